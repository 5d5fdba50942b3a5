"""Tasks run together: claimed in one statement, one call of their kind's batch handler, finished
in one statement; each keeps its own outcome, retry and lease."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from sqlalchemy import update

from gateway.runtime import Runtime
from gateway.tasks import service
from gateway.tasks.models import Task
from gateway.tasks.registry import task_batch_handler, task_handler
from gateway.tasks.runner import RetryTask, TaskContext, TaskOutcome, run_task, run_tasks
from tests.statements import recorded_statements
from tests.tasks.test_tasks import load

BATCHED = "test.batched"
PARENT = "test.parent"
calls: list[list[uuid.UUID]] = []


@task_handler(BATCHED)
async def _alone(ctx: TaskContext) -> TaskOutcome:
    return TaskOutcome(result={"alone": True})


@task_batch_handler(BATCHED)
async def _together(ctxs: list[TaskContext]) -> Sequence[TaskOutcome | BaseException | None]:
    calls.append([ctx.task_id for ctx in ctxs])
    if any(ctx.params.get("do") == "sleep" for ctx in ctxs):
        await asyncio.sleep(30)
    out: list[TaskOutcome | BaseException | None] = []
    for ctx in ctxs:
        ctx.count("seen")
        out.append(
            RetryTask("not yet", code="wait") if ctx.params.get("do") == "retry" else TaskOutcome(result=ctx.params)
        )
    return out


@task_handler(PARENT)
async def _parent(ctx: TaskContext) -> None:
    for child in ctx.params["children"]:
        ctx.run_next(uuid.UUID(child), 1)


async def create(runtime: Runtime, tenant_id: uuid.UUID, kind: str = BATCHED, **params: object) -> uuid.UUID:
    async with runtime.db.unit_of_work(runtime.queue) as session:
        task, _ = await service.create_task(session, tenant_id=tenant_id, kind=kind, params=dict(params))
    return task.id


async def test_due_tasks_are_claimed_run_and_finished_together(runtime, tenants, client) -> None:
    t = await tenants.create()
    ids = [await create(runtime, t.tenant_id, n=n) for n in range(3)]
    held = await create(runtime, t.tenant_id, n=9)
    async with runtime.db.unit_of_work() as session:  # another worker runs this one
        await session.execute(update(Task).where(Task.id == held).values(status="running", attempt=1))
    calls.clear()
    with recorded_statements(runtime) as statements:
        ran = await run_tasks(runtime, [*ids, held])
    assert ran == dict.fromkeys(ids, "succeeded")
    assert len(calls) == 1 and sorted(calls[0]) == sorted(ids)  # one call for the three
    assert [s.split()[0] for s in statements if "tasks" in s.split("WHERE")[0]] == ["UPDATE", "UPDATE"]
    for n, task_id in enumerate(ids):
        task = await load(runtime, task_id)
        assert (task.status, task.attempt, task.result, task.counters) == ("succeeded", 1, {"n": n}, {"seen": 1})
        assert task.finished_at is not None and task.lease_expires_at is None
    assert (await load(runtime, held)).status == "running"  # not claimed, not touched


async def test_one_task_of_a_batch_retries_alone(runtime, tenants, client) -> None:
    t = await tenants.create()
    fine = await create(runtime, t.tenant_id, n=1)
    later = await create(runtime, t.tenant_id, do="retry")
    dispatches = (await load(runtime, later)).dispatches
    assert await run_tasks(runtime, [fine, later]) == {fine: "succeeded", later: "retry"}
    assert (await load(runtime, fine)).status == "succeeded"
    task = await load(runtime, later)
    assert (task.status, task.error_code, task.error, task.dispatches) == ("queued", "wait", "not yet", dispatches + 1)


async def test_a_batch_stops_when_one_lease_is_lost_and_the_others_go_back_to_the_queue(
    runtime, tenants, client
) -> None:
    t = await tenants.create()
    stolen = await create(runtime, t.tenant_id, do="sleep")
    other = await create(runtime, t.tenant_id, n=2)
    run = asyncio.create_task(run_tasks(runtime, [stolen, other]))
    for _ in range(100):
        if (await load(runtime, stolen)).status == "running":
            break
        await asyncio.sleep(0.02)
    async with runtime.db.unit_of_work() as session:  # the sweeper gave it to another worker
        await session.execute(update(Task).where(Task.id == stolen).values(attempt=Task.attempt + 1))
    ran = await asyncio.wait_for(run, timeout=10)  # the heartbeat notices within a third of the lease
    assert ran == {stolen: "lease_lost", other: "retry"}
    assert (await load(runtime, stolen)).attempt == 2  # the new owner's row, untouched
    task = await load(runtime, other)
    assert (task.status, task.error_code) == ("queued", "interrupted")


async def test_what_a_run_asks_to_run_next_runs_in_the_same_process_once_it_is_finished(
    runtime, tenants, client
) -> None:
    t = await tenants.create()
    children = [await create(runtime, t.tenant_id, n=n) for n in range(2)]
    parent = await create(runtime, t.tenant_id, PARENT, children=[str(c) for c in children])
    depth = await runtime.queue.depth()
    calls.clear()
    assert await run_task(runtime, parent) == "succeeded"
    assert len(calls) == 1 and sorted(calls[0]) == sorted(children)
    assert [(await load(runtime, c)).status for c in children] == ["succeeded", "succeeded"]
    assert await runtime.queue.depth() == depth  # no job was sent for them
