"""A worker killed with SIGKILL mid-task and a flushed Valkey lose nothing."""

from __future__ import annotations

import asyncio
import signal

from sqlalchemy import update

from gateway.tasks.models import Task
from gateway.tasks.runner import TaskContext, TaskOutcome, _finish
from gateway.tasks.sweeper import sweep
from tests.tasks.test_tasks import load, new_task
from tests.workers_support import start_worker_process


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def test_sigkill_mid_task_and_flushall_then_task_finishes_once(runtime, settings, tenants, client) -> None:
    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id, seconds=4, steps=40)
    first = start_worker_process(settings)
    try:

        async def running() -> bool:
            task = await load(runtime, task_id)
            return task.status == "running" and task.progress_done >= 2

        await wait_for(running)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    await runtime.queue.redis.flushall()
    assert (await load(runtime, task_id)).status == "running"  # the row still says a dead worker has it

    second = start_worker_process(settings)
    try:

        async def finished() -> bool:
            return (await load(runtime, task_id)).status == "succeeded"

        await wait_for(finished, timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    task = await load(runtime, task_id)
    assert task.attempt == 2  # one crashed run, one complete run
    assert task.counters == {"echoed": 1}
    assert (task.progress_done, task.progress_total) == (40, 40)


async def test_a_worker_that_lost_its_lease_cannot_overwrite_the_task(runtime, tenants, client) -> None:
    from gateway.tasks.runner import run_task

    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id)
    # Attempt 1 was claimed by a worker that then stalled past its lease.
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(Task).where(Task.id == task_id).values(status="running", attempt=1, lease_expires_at=Task.created_at)
        )
    report = await sweep(runtime)
    assert report.requeued_stale == 1
    assert await run_task(runtime, task_id) == "succeeded"  # attempt 2
    zombie = TaskContext(
        task_id=task_id,
        tenant_id=t.tenant_id,
        kind="system.echo",
        subject_id=None,
        trigger="manual",
        params={},
        attempt=1,
        runtime=runtime,
    )
    assert await _finish(zombie, TaskOutcome(error="late write")) == "lease_lost"
    task = await load(runtime, task_id)
    assert (task.status, task.attempt, task.error) == ("succeeded", 2, None)
