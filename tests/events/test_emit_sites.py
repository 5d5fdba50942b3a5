"""Each capability emits its events in the transaction of the change that causes them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import text, update

from gateway.db.base import utcnow
from gateway.events import emitters
from gateway.tasks import service as tasks_service
from gateway.tasks.models import Task, TaskStatus
from gateway.tasks.runner import TaskContext, TaskOutcome, _finish
from gateway.webhooks.jobs import _mark
from tests.documents.support import complete_task, document, enable_portal, task_completed
from tests.events.support import create_endpoint
from tests.webhooks.support import create_endpoint as create_inbound_endpoint
from tests.webhooks.support import deliver, envelope


async def events_of(runtime, tenant_id: uuid.UUID) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    async with runtime.db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT body FROM events WHERE tenant_id = :t ORDER BY created_at"), {"t": tenant_id}
        )
        return [msgspec.json.decode(r[0]) for r in rows]


async def running_task(runtime, tenant_id, kind: str, params: dict[str, Any], trigger: str = "manual") -> TaskContext:  # type: ignore[no-untyped-def]
    async with runtime.db.unit_of_work() as session:
        task, _ = await tasks_service.create_task(
            session, tenant_id=tenant_id, kind=kind, params=params, trigger=trigger
        )
        await session.execute(update(Task).where(Task.id == task.id).values(status="running", attempt=1))
    return TaskContext(
        task_id=task.id,
        tenant_id=tenant_id,
        kind=kind,
        subject_id=None,
        trigger=trigger,
        params=params,
        attempt=1,
        runtime=runtime,
        counters={"policies_created": 3},
    )


@pytest.mark.parametrize(
    ("status", "event_type"),
    [
        (TaskStatus.succeeded, "import.succeeded"),
        (TaskStatus.partially_succeeded, "import.partially_succeeded"),
        (TaskStatus.failed, "import.failed"),
        (TaskStatus.cancelled, None),
    ],
)
async def test_a_finished_import_emits_with_its_status(runtime, client, tenants, status, event_type) -> None:
    t = await tenants.create()
    params = {"connection_id": str(uuid.uuid4()), "insurer": "allianz", "period": ["2026-07-01", "2026-07-31"]}
    ctx = await running_task(runtime, t.tenant_id, "import.run", params, trigger="manual_period")
    await _finish(ctx, TaskOutcome(status, error_code="x" if status == "failed" else None))
    events = await events_of(runtime, t.tenant_id)
    if event_type is None:
        assert events == []
        return
    [event] = events
    assert event["type"] == event_type
    data = event["data"]
    assert (data["task_id"], data["insurer"], data["period"]) == (
        str(ctx.task_id),
        "allianz",
        {"from": "2026-07-01", "to": "2026-07-31"},
    )
    assert data["counters"] == {"policies_created": 3}
    assert data["results_url"] == f"/v1/imports/{ctx.task_id}/results"


async def test_a_worker_that_lost_its_lease_emits_nothing(runtime, client, tenants) -> None:
    t = await tenants.create()
    ctx = await running_task(runtime, t.tenant_id, "import.run", {"connection_id": str(uuid.uuid4())})
    ctx.attempt = 0  # another worker claimed it since
    assert await _finish(ctx, TaskOutcome()) == "lease_lost"
    assert await events_of(runtime, t.tenant_id) == []


async def test_a_failed_sync_run_and_a_reconciliation_run_emit(runtime, client, tenants) -> None:
    t = await tenants.create()
    sync = await running_task(runtime, t.tenant_id, "portal.sync", {"sync": "beneficiary.full"})
    await _finish(sync, TaskOutcome(TaskStatus.failed, error_code="core_unavailable", error="down"))
    ok_sync = await running_task(runtime, t.tenant_id, "portal.sync", {"sync": "beneficiary.full"})
    await _finish(ok_sync, TaskOutcome())  # a successful run is not news
    run = await running_task(runtime, t.tenant_id, "reconciliation.run", {"day": "2026-11-30"})
    await _finish(run, TaskOutcome())
    failed, summary = await events_of(runtime, t.tenant_id)
    assert (failed["type"], failed["data"]["sync"], failed["data"]["error_code"]) == (
        "sync.run.failed",
        "beneficiary.full",
        "core_unavailable",
    )
    assert (summary["type"], summary["data"]["day"]) == ("reconciliation.daily_summary", "2026-11-30")


async def test_a_sync_that_missed_its_freshness_is_stale(runtime, client, tenants) -> None:
    t = await tenants.create()
    now = utcnow()
    async with runtime.db.unit_of_work() as session:
        await emitters.sync_stale(session, t.tenant_id, "beneficiary.full", "daily", now - timedelta(hours=2), now)
        await emitters.sync_stale(session, t.tenant_id, "beneficiary.full", "daily", now - timedelta(days=3), now)
    [event] = await events_of(runtime, t.tenant_id)  # two hours in a daily schedule is still fresh
    assert (event["type"], event["data"]["freshness"], event["data"]["last_success_at"]) == (
        "sync.stale",
        "error",
        None,
    )


async def test_document_deliveries_emit_delivered_and_failed(runtime, client, tenants, worker, sandbox) -> None:
    t = await tenants.create()
    await create_endpoint(client, t.headers, "http://127.0.0.1:9/h")
    await enable_portal(client, sandbox.url, t)
    docs = [document("d1"), document("d2", template="Sem Destino", file_name="x.pdf")]
    await complete_task(runtime, t, task_completed(docs))
    await worker()
    by_type = {e["type"]: e["data"] for e in await events_of(runtime, t.tenant_id)}
    assert by_type["document.delivered"]["file_name"] == "DAS Janeiro.pdf"
    assert by_type["document.delivered"]["folder_path"]
    failed = by_type["document.delivery_failed"]
    assert failed["error_code"] == "template_unmapped"
    assert failed["retry_url"] == f"/v1/document-deliveries/{failed['delivery_id']}/retry"
    assert "content" not in str(by_type)  # ids and summaries, never the document
    assert await _delivery_count(runtime) == 2  # both went to the endpoint


async def _delivery_count(runtime) -> int:  # type: ignore[no-untyped-def]
    async with runtime.db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM event_deliveries"))).scalar_one())


async def test_an_inbound_event_failed_for_good_emits(runtime, client, tenants) -> None:
    t = await tenants.create()
    ep = await create_inbound_endpoint(client, t.headers, source="boavista")
    data = {"establishment_code": "1", "remittance_id": "r-1", "returned_at": "2026-11-20T10:00:00Z", "items": []}
    r = await deliver(client, ep, envelope("remittance.returned", data))
    assert r.status_code == 202
    event_id = uuid.UUID(r.json()["id"])
    ctx = TaskContext(uuid.uuid4(), t.tenant_id, "webhook.process", None, "webhook", {}, 1, runtime)
    await _mark(ctx, event_id, status="received", error="first try")  # still retrying: no news
    await _mark(ctx, event_id, status="failed", error="ValueError: bad")
    [event] = await events_of(runtime, t.tenant_id)
    assert event["type"] == "inbound_event.failed"
    assert (event["data"]["event_id"], event["data"]["error"]) == (str(event_id), "ValueError: bad")
    assert event["data"]["replay_url"] == f"/v1/webhook-events/{event_id}/replay"
