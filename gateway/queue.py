"""The arq queue, seen from the gateway: it only ever carries task ids.

``gateway`` never imports ``workers``; it enqueues by job name. Jobs are buffered on the
database session and sent only after the transaction that created their task commits.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis.exceptions
import structlog
from arq.connections import ArqRedis, RedisSettings
from arq.constants import expires_extra_ms, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff, NoBackoff
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger("ponte.queue")

RUN_TASK = "run_task"
QUEUE_NAME = "arq:queue"
_BUFFER = "ponte_jobs"

# What arq's enqueue_job writes for a new job, for many jobs in one command: the job's key
# (SET NX, so an existing job id is left alone) and its place in the queue (ZADD NX).
# KEYS: the queue, then each job's key; ARGV: per job, its id, score, PX and payload.
_ENQUEUE_JOBS = """
for i = 2, #KEYS do
    local at = (i - 2) * 4
    redis.call('SET', KEYS[i], ARGV[at + 4], 'PX', ARGV[at + 3], 'NX')
    redis.call('ZADD', KEYS[1], 'NX', ARGV[at + 2], ARGV[at + 1])
end
return #KEYS - 1
"""


def job_id(task_id: uuid.UUID | str, dispatch: int) -> str:
    """Deterministic: a second enqueue of the same dispatch is a no-op in arq."""
    return f"task:{task_id}:{dispatch}"


def enqueue_after_commit(
    session: AsyncSession, task_id: uuid.UUID, dispatch: int, run_after: datetime | None = None
) -> None:
    session.info.setdefault(_BUFFER, []).append((task_id, dispatch, run_after))


def redis_settings(url: str, *, retry_seconds: float = 0.0) -> RedisSettings:
    """arq's connection settings. Every client reconnects once when a pooled connection died
    (Valkey restarted). A worker passes ``retry_seconds`` (``queue_retry_seconds``): a command
    that lost its connection is tried again for about that long (backoff doubling to 1 s), then
    fails, and the worker polls again (``workers/worker.py``). The gateway's client, and each
    process's own enqueues, are made by ``Queue.connect`` instead and fail fast: their tasks are
    in PostgreSQL and the sweeper sends them.

    A connection refused when the pool opens a new one is not retried at all (redis-py retries
    a command only on a connection it already had), so no budget, however long, carries a
    worker through an outage: the worker's loop does."""
    settings = RedisSettings.from_dsn(url)
    errors: list[type[Exception]] = [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    settings.retry_on_error = errors
    if retry_seconds > 0:
        settings.retry = Retry(EqualJitterBackoff(cap=1.0, base=0.05), max(1, math.ceil(retry_seconds)))
    else:
        settings.retry = Retry(NoBackoff(), 1)
    return settings


class Queue:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis

    @classmethod
    async def connect(cls, url: str, *, timeout: float = 2.0) -> Queue:
        """A client for ``url``, made without waiting for Valkey: a process that starts during
        an outage serves at once (its readiness says 503, enqueues fail fast and the sweeper
        sends their tasks later) and uses Valkey when it comes back, without a restart.

        Every command gives up after ``timeout`` seconds (``queue_timeout_seconds``), so a Valkey
        that accepts connections but does not answer (stopped, overloaded) fails a request's
        enqueue or rate-limit check instead of holding it forever. A command whose pooled
        connection died (Valkey restarted) is tried once more on a new one; a timed-out one is
        not, since a new connection to a server that does not answer times out as well."""
        client = ArqRedis(
            pool_or_conn=ConnectionPool.from_url(
                url,
                socket_connect_timeout=min(timeout, RedisSettings.conn_timeout),  # arq's default
                socket_timeout=timeout,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[redis.exceptions.ConnectionError],
                encoding="utf8",
            )
        )
        return cls(client)

    async def dispatch(self, task_id: uuid.UUID | str, dispatch: int, run_after: datetime | None = None) -> bool:
        job = await self.redis.enqueue_job(
            RUN_TASK, str(task_id), _job_id=job_id(task_id, dispatch), _defer_until=run_after
        )
        return job is not None

    async def dispatch_many(self, jobs: Sequence[tuple[uuid.UUID, int, datetime | None]]) -> None:
        """Enqueue many jobs in one command, in the format arq's worker reads.

        ``arq.enqueue_job`` costs two round trips per job (WATCH + MULTI); ``SET NX`` +
        ``ZADD NX`` per job keeps the same "an existing job id is not enqueued twice" promise,
        which is all task ids with a dispatch number need. One script call for all of them
        costs redis-py less than a pipeline of two commands (the intake sends one or a few jobs
        per group commit). EVAL rather than EVALSHA: a Valkey that restarted empty has no
        cached script.
        """
        if not jobs:
            return
        now = timestamp_ms()
        keys: list[str] = [QUEUE_NAME]
        args: list[Any] = []
        for task_id, dispatch, run_after in jobs:
            jid = job_id(task_id, dispatch)
            score = max(to_unix_ms(run_after), now) if run_after is not None else now
            payload = serialize_job(RUN_TASK, (str(task_id),), {}, None, now, serializer=self.redis.job_serializer)
            keys.append(job_key_prefix + jid)
            args += (jid, score, score - now + expires_extra_ms, payload)
        await self.redis.eval(_ENQUEUE_JOBS, len(keys), *keys, *args)  # type: ignore[misc]  # sync|async stub

    async def flush(self, session: AsyncSession) -> None:
        """Send the jobs buffered on ``session``; call only after it committed."""
        await self.send(session.info.pop(_BUFFER, []))

    async def send(self, jobs: Sequence[tuple[uuid.UUID, int, datetime | None]]) -> None:
        """Enqueue the jobs of tasks already committed. A failure is logged, not raised: the
        tasks are in PostgreSQL and the sweeper dispatches them."""
        try:
            await self.dispatch_many(jobs)
        except Exception as exc:
            log.warning("enqueue_failed", jobs=len(jobs), error=repr(exc))

    async def depth(self) -> int:
        return int(await self.redis.zcard(QUEUE_NAME))

    async def ping(self) -> Any:
        return await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()
