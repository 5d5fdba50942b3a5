"""arq's worker, made to outlive a Valkey outage of any length.

arq ends its poll loop on the first connection error (python-arq/arq#435, #498), gives up
starting after five refused connections a second apart, and the Redis client's own retries
(``gateway.queue.redis_settings``) cannot cover either: a refused connection is never retried,
nor is a command inside a WATCH transaction. Here a worker waits at start-up until Valkey
answers, and a poll that loses Valkey is logged and tried again; jobs already running carry
on, since they need PostgreSQL, not Valkey. What the queue lost while it was down, the sweeper
dispatches again from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import arq.worker
import redis.exceptions
import structlog
import uvloop
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from redis.commands.core import AsyncScript

from gateway.outages import is_outage

log = structlog.get_logger("ponte.worker")

POLL_PAUSE_SECONDS = 1.0
OUTAGE_LOG_EVERY_SECONDS = 60.0  # one line a minute while Valkey stays down, not one a poll

# arq's claim of a job, as one script: Valkey runs it atomically, as arq's WATCH transaction
# made it. Nothing is claimed while the job runs elsewhere, once it left the queue, or while it
# is deferred; otherwise its in-progress key is set and its score returned.
_CLAIM_JOB = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local score = redis.call('zscore', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('psetex', KEYS[1], ARGV[3], '1')
return score
"""


def lost_valkey(exc: BaseException) -> bool:
    # redis-py turns a connection error under WATCH into a WatchError ("retry the transaction").
    if isinstance(exc, redis.exceptions.WatchError) and exc.__context__ is not None:
        return is_outage(exc.__context__)
    return isinstance(exc, redis.exceptions.RedisError | OSError) and is_outage(exc)


class QueueOutage:
    """Logs an outage when it starts, once a minute while it lasts, and when it ends."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.logged_at = 0.0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = self.logged_at = now
            log.warning("queue_unreachable", error=repr(exc))
        elif now - self.logged_at >= OUTAGE_LOG_EVERY_SECONDS:
            self.logged_at = now
            log.warning("queue_still_unreachable", down_seconds=round(now - self.since), error=repr(exc))

    def answered(self) -> None:
        if self.since is not None:
            log.info("queue_reachable_again", down_seconds=round(time.monotonic() - self.since, 1))
            self.since = None


class Worker(arq.worker.Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outage = QueueOutage()
        self._claim_script: AsyncScript | None = None

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await self._wait_for_queue()
        await super().main()

    async def _wait_for_queue(self) -> ArqRedis:
        # arq's own wait (conn_retries) ends the process; a supervisor restarting it would only
        # meet the same outage again, so this one lasts as long as the outage does.
        once = dataclasses.replace(self.redis_settings or RedisSettings(), conn_retries=0)
        while True:
            try:
                pool = await create_pool(
                    once,
                    job_serializer=self.job_serializer,
                    job_deserializer=self.job_deserializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except Exception as exc:
                if not lost_valkey(exc):
                    raise
                self.outage.failed(exc)
                await asyncio.sleep(POLL_PAUSE_SECONDS)
            else:
                self.outage.answered()
                return pool

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        await self._claim_and_start(await self._not_running(job_ids))

    async def _claim_and_start(self, job_ids: list[bytes]) -> None:
        """arq's ``start_jobs``, with each claim one script call (``_CLAIM_JOB``).

        arq claims a job with WATCH, EXISTS, ZSCORE and a MULTI/PSETEX/EXEC transaction, then
        UNWATCH: four or five round trips, 7.6% of a worker's CPU in bench.document_delivery.
        The slots, counters and the task started are arq's own.
        """
        if self._claim_script is None:
            self._claim_script = self.pool.register_script(_CLAIM_JOB)
        timeout_ms = int(self.in_progress_timeout_s * 1000)
        for job_id_b in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            job_id = job_id_b.decode()
            keys = [in_progress_key_prefix + job_id, self.queue_name]
            # A slot is given back (arq's own release) when no job starts in it: taken elsewhere,
            # finished, deferred meanwhile, or Valkey lost mid-claim.
            try:
                score = await self._claim_script(keys=keys, args=[job_id, timestamp_ms(), timeout_ms])
            except BaseException:
                self._release_sem_dec_counter_on_complete()
                raise
            if score is None:
                self._release_sem_dec_counter_on_complete()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _not_running(self, job_ids: list[bytes]) -> list[bytes]:
        """The polled jobs no worker is running yet.

        A job stays in arq's queue until it ends, so each poll reads the running jobs too: this
        worker's own and, with several workers, everyone's. Claiming each would cost a slot and
        a round trip to learn that it is taken (arq's own claim, four). One pipelined EXISTS per
        poll answers that for all of them; the claim (``_CLAIM_JOB``) still decides the rest, so
        a job that was free here and taken since is skipped there, as before.
        """
        candidates = [job_id for job_id in job_ids if job_id.decode() not in self.tasks]
        if not candidates:
            return []
        async with self.pool.pipeline(transaction=False) as pipe:
            for job_id in candidates:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            taken = await pipe.execute()
        return [job_id for job_id, running in zip(candidates, taken, strict=True) if not running]

    def _reap_lost_jobs(self) -> None:
        """Drop the jobs that ran but could not tell Valkey so (their result, their in-progress
        key). arq re-raises one such error per poll and would pause a poll for each after an
        outage, then raise the rest at shutdown; the task's row in PostgreSQL already says what
        happened, and the sweeper dispatches again what the queue lost."""
        for job_id, task in list(self.tasks.items()):
            if task.done() and not task.cancelled() and (exc := task.exception()) is not None and lost_valkey(exc):
                del self.tasks[job_id]
                log.info("job_unrecorded_in_queue", job_id=job_id, error=repr(exc))

    async def _poll_iteration(self) -> None:
        self._reap_lost_jobs()
        try:
            await super()._poll_iteration()
        except Exception as exc:
            if not lost_valkey(exc):
                raise
            self.outage.failed(exc)
            await asyncio.sleep(POLL_PAUSE_SECONDS)
        else:
            self.outage.answered()

    async def close(self) -> None:
        # On a stop arq cancels the jobs still running, then awaits them: one cut short while it
        # was writing its result raised CancelledError out of close(), so an ordinary SIGTERM
        # ended in a traceback and exit status 1. A job cut short is safe to drop (its task's
        # lease lapses in PostgreSQL and the sweeper dispatches it again), so the stop is too.
        self._reap_lost_jobs()
        jobs, self.tasks = self.tasks, {}
        for job in jobs.values():
            job.cancel()  # as arq's stop does (a SIGTERM already has)
        for job_id, job in jobs.items():
            await _settled(job_id, job)
        await super().close()


async def _settled(job_id: str, job: asyncio.Task[Any]) -> None:
    try:
        await job
    except asyncio.CancelledError:
        log.info("job_cut_short_by_stop", job_id=job_id)
    except Exception as exc:
        log.warning("job_failed_at_stop", job_id=job_id, error=repr(exc))


def run(settings_cls: Any, **overrides: Any) -> Worker:
    """``arq.run_worker`` with this worker class, on uvloop as the gateway is served: a
    worker's jobs are network round trips (partners, PostgreSQL, Valkey), and uvloop's I/O
    costs less CPU than asyncio's selector loop."""
    asyncio.set_event_loop(uvloop.new_event_loop())  # arq takes the current loop
    worker = Worker(**{**arq.worker.get_kwargs(settings_cls), **overrides})
    worker.run()
    return worker
