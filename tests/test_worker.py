"""The worker class every ``ponte worker`` runs (workers/worker.py), in-process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import arq.worker
import pytest
import redis.exceptions
from arq.connections import ArqRedis, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix

from gateway.queue import redis_settings
from gateway.settings import Settings
from workers.main import WorkerSettings, run_task
from workers.worker import Worker, lost_valkey


async def test_a_stop_that_cuts_a_job_short_ends_cleanly(settings: Settings) -> None:
    pool = await create_pool(redis_settings(settings.redis_url))  # close() closes it
    worker = Worker(functions=[run_task], redis_pool=pool, handle_signals=False, poll_delay=0.05)  # type: ignore[list-item]

    async def writing_its_result() -> None:
        await asyncio.sleep(3600)

    # A job still running at the stop, as arq's run_job is while it writes a result: the stop
    # cancels it, and the CancelledError must not come out of close().
    job = asyncio.create_task(writing_its_result())
    worker.tasks["task:cut-short:0"] = job
    await worker.close()
    assert job.cancelled()


@contextmanager
def pipelines_opened(pool: ArqRedis) -> Iterator[list[bool]]:
    """Each pipeline opened on ``pool`` meanwhile: True for a transaction (MULTI/EXEC, WATCH)."""
    opened: list[bool] = []
    real = pool.pipeline

    def pipeline(transaction: bool = True, shard_hint: str | None = None) -> Any:
        opened.append(transaction)
        return real(transaction=transaction, shard_hint=shard_hint)

    pool.pipeline = pipeline  # type: ignore[method-assign]
    try:
        yield opened
    finally:
        del pool.pipeline


async def test_a_poll_skips_the_jobs_another_worker_runs_without_a_transaction_each(settings: Settings) -> None:
    """A job stays in arq's queue while it runs; a poll finds whether it is taken in one
    pipelined round trip for the whole batch, not a WATCH transaction per job."""
    pool = await create_pool(redis_settings(settings.redis_url))  # close() closes it
    worker = Worker(functions=[run_task], redis_pool=pool, handle_signals=False, poll_delay=0.05)  # type: ignore[list-item]
    suffix = uuid.uuid4().hex
    taken = [f"task:elsewhere-{suffix}-{i}:0" for i in range(20)]
    try:
        for job_id in taken:  # queued, and running in some other worker
            await pool.enqueue_job("run_task", job_id, _job_id=job_id)
            await pool.psetex(in_progress_key_prefix + job_id, 60_000, b"1")
        with pipelines_opened(pool) as pipelines:
            await worker.start_jobs([job_id.encode() for job_id in taken])
        assert worker.tasks == {}  # none started here
        assert worker.job_counter == 0 and not worker.sem.locked()  # and no slot kept for them
        assert pipelines == [False]  # one round trip for the twenty, no WATCH transaction
    finally:
        for job_id in taken:
            await pool.delete(in_progress_key_prefix + job_id, job_key_prefix + job_id)
            await pool.zrem(worker.queue_name, job_id)
        await worker.close()


async def test_an_idle_poll_is_one_round_trip(settings: Settings) -> None:
    """With nothing queued, a poll of the configured worker reads the queue and nothing else:
    cancellation goes through PostgreSQL, so there is no abort set to read each poll."""
    pool = await create_pool(redis_settings(settings.redis_url))  # close() closes it
    # The configured worker, less its cron jobs (a due one is enqueued from the poll too).
    kwargs = arq.worker.get_kwargs(WorkerSettings) | {"redis_pool": pool, "handle_signals": False, "cron_jobs": []}
    worker = Worker(**kwargs, queue_name=f"idle-{uuid.uuid4().hex}")
    try:
        with pipelines_opened(pool) as pipelines:
            await worker._poll_iteration()
        assert pipelines == []
    finally:
        await worker.close()


async def test_a_poll_does_not_try_to_start_the_jobs_this_worker_runs(settings: Settings) -> None:
    pool = await create_pool(redis_settings(settings.redis_url))  # close() closes it
    worker = Worker(functions=[run_task], redis_pool=pool, handle_signals=False, poll_delay=0.05)  # type: ignore[list-item]
    running = asyncio.create_task(asyncio.sleep(3600))
    job_id = f"task:running-here-{uuid.uuid4().hex}:0"
    worker.tasks[job_id] = running
    try:
        with pipelines_opened(pool) as pipelines:
            await worker.start_jobs([job_id.encode()])
        assert pipelines == []  # known to be running here: not a single round trip
        assert worker.job_counter == 0
    finally:
        await worker.close()


async def noop(ctx: dict[str, Any]) -> None:
    return None


async def test_a_job_is_claimed_in_one_script_call_and_by_one_worker(settings: Settings) -> None:
    """arq's WATCH transaction per job is one atomic script call: a due job is claimed once,
    a deferred one not yet, and a second worker polling the same job starts nothing."""
    pools = [await create_pool(redis_settings(settings.redis_url)) for _ in range(2)]  # close() closes them
    one, other = (
        Worker(functions=[arq.worker.func(noop, name="noop")], redis_pool=p, handle_signals=False) for p in pools
    )
    suffix = uuid.uuid4().hex
    due, deferred = f"noop:due-{suffix}", f"noop:later-{suffix}"
    try:
        await pools[0].enqueue_job("noop", _job_id=due)
        await pools[0].enqueue_job("noop", _job_id=deferred, _defer_by=60)
        with pipelines_opened(pools[0]) as pipelines:
            await one._claim_and_start([deferred.encode(), due.encode()])
        assert list(one.tasks) == [due]
        assert pipelines == []  # no WATCH transaction (run_job, which opens one, has not run yet)
        assert await pools[0].exists(in_progress_key_prefix + due)
        assert not await pools[0].exists(in_progress_key_prefix + deferred)
        await other._claim_and_start([due.encode()])
        assert other.tasks == {}
        assert other.job_counter == 0 and not other.sem.locked()
        await one.tasks[due]
        assert await pools[0].exists(result_key_prefix + due)  # arq's run_job ran it and kept its result
    finally:
        for job_id in (due, deferred):
            await pools[0].delete(in_progress_key_prefix + job_id, job_key_prefix + job_id, result_key_prefix + job_id)
            await pools[0].zrem(one.queue_name, job_id)
        await one.close()
        await other.close()


async def test_a_poll_that_loses_valkey_before_taking_a_slot_gives_none_back(settings: Settings) -> None:
    """Valkey gone while a poll asks which jobs run elsewhere: no slot was taken, so none is
    returned (a semaphore over its size would let the worker run more jobs than configured)."""
    pool = ArqRedis(host="127.0.0.1", port=1)  # loopback, nothing listening: connection refused
    worker = Worker(functions=[run_task], redis_pool=pool, handle_signals=False, max_jobs=3)  # type: ignore[list-item]
    size = worker.sem._value  # arq's: max_jobs + 1
    try:
        for _ in range(2):
            with pytest.raises(redis.exceptions.ConnectionError) as failed:
                await worker.start_jobs([b"task:lost:0"])
            assert lost_valkey(failed.value)  # an outage the poll rides out, not a crash
        assert worker.job_counter == 0
        assert worker.sem._value == size  # not one more per failed poll (a ValueError, once full)
    finally:
        worker.tasks = {}
        await pool.aclose()
