from __future__ import annotations

import uuid

from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.tasks import service
from gateway.tasks.models import Task
from gateway.tasks.runner import run_task
from gateway.tasks.sweeper import sweep


async def new_task(runtime: Runtime, tenant_id: uuid.UUID, **params: object) -> uuid.UUID:
    async with runtime.db.unit_of_work(runtime.queue) as session:
        task, _ = await service.create_task(session, tenant_id=tenant_id, kind="system.echo", params=dict(params))
    return task.id


async def load(runtime: Runtime, task_id: uuid.UUID) -> Task:
    async with runtime.db.sessionmaker() as session:
        return (await session.scalars(select(Task).where(Task.id == task_id))).one()


async def test_task_is_enqueued_after_commit_and_runs(runtime, tenants, worker, client) -> None:
    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id, steps=3)
    assert await runtime.queue.depth() == 1
    await worker()
    task = await load(runtime, task_id)
    assert task.status == "succeeded"
    assert task.counters == {"echoed": 1}
    assert (task.progress_done, task.progress_total) == (3, 3)
    r = await client.get(f"/v1/tasks/{task_id}", headers=t.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "succeeded"
    assert r.json()["progress"] == {"done": 3, "total": 3}


async def test_rolled_back_transaction_enqueues_nothing(runtime, tenants, client) -> None:
    t = await tenants.create()
    try:
        async with runtime.db.unit_of_work(runtime.queue) as session:
            await service.create_task(session, tenant_id=t.tenant_id, kind="system.echo")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert await runtime.queue.depth() == 0


async def test_transient_failure_retries_with_backoff_then_succeeds(runtime, tenants, worker, client) -> None:
    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id, fail="transient", succeed_on_attempt=3)
    await worker()
    task = await load(runtime, task_id)
    assert task.status == "succeeded"
    assert task.attempt == 3


async def test_transient_failure_fails_after_last_attempt(runtime, tenants, worker, client) -> None:
    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id, fail="transient")
    await worker()
    task = await load(runtime, task_id)
    assert (task.status, task.attempt, task.error_code) == ("failed", 5, "retry")


async def test_permanent_failure_is_not_retried(runtime, tenants, worker, client) -> None:
    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id, fail="permanent")
    await worker()
    task = await load(runtime, task_id)
    assert (task.status, task.attempt, task.error_code, task.error) == ("failed", 1, "asked", "asked to fail")


async def test_duplicate_delivery_of_a_job_runs_the_task_once(runtime, tenants, client) -> None:
    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id)
    assert await run_task(runtime, task_id) == "succeeded"
    assert await run_task(runtime, task_id) == "skipped"  # arq delivered it again
    assert (await load(runtime, task_id)).attempt == 1


async def test_dedup_key_creates_one_task(runtime, tenants, client) -> None:
    t = await tenants.create()
    async with runtime.db.unit_of_work(runtime.queue) as session:
        a, created_a = await service.create_task(session, tenant_id=t.tenant_id, kind="system.echo", dedup_key="day-1")
        b, created_b = await service.create_task(session, tenant_id=t.tenant_id, kind="system.echo", dedup_key="day-1")
    assert (created_a, created_b) == (True, False)
    assert a.id == b.id


async def test_cancel_queued_task(runtime, tenants, worker, client) -> None:
    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id)
    r = await client.post(f"/v1/tasks/{task_id}/cancel", headers=t.headers)
    assert r.status_code == 202
    assert r.json()["status"] == "cancelled"
    await worker()
    assert (await load(runtime, task_id)).status == "cancelled"
    again = await client.post(f"/v1/tasks/{task_id}/cancel", headers=t.headers)
    assert again.status_code == 409


async def test_cancel_running_task_stops_it(runtime, tenants, client) -> None:
    import asyncio

    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id, seconds=30, steps=300)
    running = asyncio.create_task(run_task(runtime, task_id))
    for _ in range(100):
        if (await load(runtime, task_id)).status == "running":
            break
        await asyncio.sleep(0.05)
    assert (await client.post(f"/v1/tasks/{task_id}/cancel", headers=t.headers)).status_code == 202
    assert await asyncio.wait_for(running, timeout=10) == "cancelled"
    assert (await load(runtime, task_id)).status == "cancelled"


async def test_other_tenants_task_is_404(runtime, tenants, client) -> None:
    a, b = await tenants.create(), await tenants.create()
    task_id = await new_task(runtime, a.tenant_id)
    assert (await client.get(f"/v1/tasks/{task_id}", headers=b.headers)).status_code == 404
    assert (await client.post(f"/v1/tasks/{task_id}/cancel", headers=b.headers)).status_code == 404
    listing = (await client.get("/v1/tasks", headers=b.headers)).json()
    assert listing["items"] == []


async def test_task_list_filters_and_paginates(runtime, tenants, client) -> None:
    t = await tenants.create()
    ids = [await new_task(runtime, t.tenant_id) for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "kind": "system.echo"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/tasks", params=params, headers=t.headers)).json()
        seen += [item["id"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted(str(i) for i in ids)
    assert (await client.get("/v1/tasks", params={"status": "failed"}, headers=t.headers)).json()["items"] == []
    bad = await client.get("/v1/tasks", params={"status": "nope"}, headers=t.headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["source"] == "query"


async def test_sweeper_redispatches_tasks_the_queue_lost(runtime, tenants, worker, client) -> None:
    import asyncio

    t = await tenants.create()
    task_id = await new_task(runtime, t.tenant_id)
    await runtime.queue.redis.flushall()  # Valkey lost everything
    assert await worker() == 0
    await asyncio.sleep(runtime.settings.sweep_grace_seconds + 0.1)
    report = await sweep(runtime)
    assert report.redispatched == 1
    await worker()
    assert (await load(runtime, task_id)).status == "succeeded"
