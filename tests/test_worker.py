"""The worker class every ``ponte worker`` runs (workers/worker.py), in-process."""

from __future__ import annotations

import asyncio

from arq.connections import create_pool

from gateway.queue import redis_settings
from gateway.settings import Settings
from workers.main import run_task
from workers.worker import Worker


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


async def test_a_poll_does_not_try_to_start_the_jobs_this_worker_runs(settings: Settings) -> None:
    pool = await create_pool(redis_settings(settings.redis_url))  # close() closes it
    worker = Worker(functions=[run_task], redis_pool=pool, handle_signals=False, poll_delay=0.05)  # type: ignore[list-item]
    running = asyncio.create_task(asyncio.sleep(3600))
    job_id = "task:running-here:0"
    worker.tasks[job_id] = running
    try:
        before = (await pool.info("commandstats")).get("cmdstat_watch", {}).get("calls", 0)
        await worker.start_jobs([job_id.encode()])
        after = (await pool.info("commandstats")).get("cmdstat_watch", {}).get("calls", 0)
        assert after == before  # no WATCH/EXISTS/ZSCORE round trips to find it running
        assert worker.job_counter == 0
    finally:
        await worker.close()
