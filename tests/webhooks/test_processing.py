"""Processing: each stored event reaches its handler; failures retry, then fail visibly; replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.tasks.models import Task
from gateway.tasks.runner import run_task
from gateway.webhooks.registry import EVENT_HANDLERS
from tests.statements import recorded_statements
from tests.webhooks.support import create_endpoint, deliver, envelope

RECEIPT = {
    "insurer": "allianz",
    "policy_number": "P-1",
    "receipt_number": "R-1",
    "status": "paid",
    "changed_at": "2026-11-20",
    "as_of": "2026-11-20T10:00:00Z",
}


@pytest.fixture
def receipt_handler() -> dict[str, object]:
    """Swap in a handler for receipt.status_changed that counts calls and fails on demand."""
    calls: dict[str, object] = {"n": 0, "fail_until": 0, "seen": []}

    async def handler(ctx, event) -> None:  # type: ignore[no-untyped-def]
        calls["n"] = int(calls["n"]) + 1  # type: ignore[call-overload]
        calls["seen"].append(event.data.receipt_number)  # type: ignore[attr-defined]
        if int(calls["n"]) <= int(calls["fail_until"]):  # type: ignore[call-overload]
            raise RuntimeError("core system said no")

    EVENT_HANDLERS["receipt.status_changed"] = handler  # the inbox_only fixture restores the registry
    return calls


async def test_event_is_dispatched_to_its_handler_with_typed_data(client, tenants, worker, receipt_handler) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, source="insurer:allianz")
    r = await deliver(client, ep, envelope("receipt.status_changed", RECEIPT))
    assert r.status_code == 202
    await worker()
    assert receipt_handler["n"] == 1
    assert receipt_handler["seen"] == ["R-1"]
    detail = (await client.get(f"/v1/webhook-events/{r.json()['id']}", headers=t.headers)).json()
    assert detail["status"] == "processed"
    assert detail["processing"]["attempt"] == 1
    assert detail["processed_at"] is not None


async def test_handler_failure_retries_then_succeeds(client, tenants, worker, receipt_handler) -> None:
    receipt_handler["fail_until"] = 2
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, source="insurer:allianz")
    r = await deliver(client, ep, envelope("receipt.status_changed", RECEIPT))
    await worker()
    detail = (await client.get(f"/v1/webhook-events/{r.json()['id']}", headers=t.headers)).json()
    assert detail["status"] == "processed"
    assert detail["processing"]["attempt"] == 3
    assert receipt_handler["n"] == 3


async def test_after_the_last_try_the_event_is_failed_then_replay_processes_it(
    client, tenants, worker, receipt_handler
) -> None:
    receipt_handler["fail_until"] = 99
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, source="insurer:allianz")
    r = await deliver(client, ep, envelope("receipt.status_changed", RECEIPT))
    event_id = r.json()["id"]
    await worker()
    detail = (await client.get(f"/v1/webhook-events/{event_id}", headers=t.headers)).json()
    assert detail["status"] == "failed"
    assert "core system said no" in detail["error"]
    assert detail["processing"]["attempt"] == detail["processing"]["max_attempts"] == 5
    failed = (await client.get("/v1/webhook-events", params={"status": "failed"}, headers=t.headers)).json()
    assert [e["id"] for e in failed["items"]] == [event_id]

    receipt_handler["fail_until"] = 0  # the cause is fixed
    replay = await client.post(f"/v1/webhook-events/{event_id}/replay", headers=t.headers)
    assert replay.status_code == 202
    assert replay.json()["status"] == "received"
    await worker()
    detail = (await client.get(f"/v1/webhook-events/{event_id}", headers=t.headers)).json()
    assert (detail["status"], detail["error"]) == ("processed", None)


async def test_replay_all_failed_in_a_time_range(client, tenants, worker, receipt_handler) -> None:
    receipt_handler["fail_until"] = 10  # two events × five tries
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, source="insurer:allianz")
    for n in range(2):
        await deliver(client, ep, envelope("receipt.status_changed", RECEIPT | {"receipt_number": f"R-{n}"}))
    await worker()
    now = datetime.now(UTC)
    body = {
        "received_from": (now - timedelta(hours=1)).isoformat(),
        "received_to": (now + timedelta(minutes=1)).isoformat(),
    }
    r = await client.post("/v1/webhook-events/replay", json=body, headers=t.headers)
    assert r.status_code == 202
    assert r.json()["replayed"] == 2
    await worker()
    processed = (await client.get("/v1/webhook-events", params={"status": "processed"}, headers=t.headers)).json()
    assert len(processed["items"]) == 2
    bad = await client.post(
        "/v1/webhook-events/replay", json={**body, "received_from": body["received_to"]}, headers=t.headers
    )
    assert bad.status_code == 422


async def test_rejected_events_cannot_be_replayed(client, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, source="insurer:allianz")
    r = await deliver(client, ep, envelope("receipt.status_changed", RECEIPT | {"status": "lost"}))
    assert r.status_code == 422
    replay = await client.post(f"/v1/webhook-events/{r.json()['event_id']}/replay", headers=t.headers)
    assert replay.status_code == 409


async def test_event_listing_filters_and_payload_on_request(client, tenants) -> None:
    t = await tenants.create()
    insurer = await create_endpoint(client, t.headers, source="insurer:allianz")
    boavista = await create_endpoint(client, t.headers, source="boavista")
    await deliver(client, insurer, envelope("receipt.status_changed", RECEIPT))
    returned = {
        "establishment_code": "1020304050",
        "remittance_id": "rem-1",
        "returned_at": "2026-11-20T10:00:00Z",
        "items": [],
    }
    r = await deliver(client, boavista, envelope("remittance.returned", returned))
    by_source = (await client.get("/v1/webhook-events", params={"source": "boavista"}, headers=t.headers)).json()
    assert [e["type"] for e in by_source["items"]] == ["remittance.returned"]
    by_type = (
        await client.get("/v1/webhook-events", params={"type": "receipt.status_changed"}, headers=t.headers)
    ).json()
    assert [e["source"] for e in by_type["items"]] == ["insurer:allianz"]
    detail = (
        await client.get(f"/v1/webhook-events/{r.json()['id']}", params={"include_payload": True}, headers=t.headers)
    ).json()
    assert detail["payload"]["data"]["remittance_id"] == "rem-1"
    assert "webhook-signature" not in detail["headers"]
    plain = (await client.get(f"/v1/webhook-events/{r.json()['id']}", headers=t.headers)).json()
    assert plain["payload"] is None


async def test_a_processing_run_writes_its_task_row_twice_and_records_its_progress(
    client, runtime, tenants, receipt_handler
) -> None:
    # Claimed, then finished with its progress: no third write of the row for the progress alone.
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, source="insurer:allianz")
    assert (await deliver(client, ep, envelope("receipt.status_changed", RECEIPT))).status_code == 202
    async with runtime.db.sessionmaker() as session:
        [task] = (await session.scalars(select(Task).where(Task.tenant_id == t.tenant_id))).all()
    with recorded_statements(runtime) as executed:
        assert await run_task(runtime, task.id) == "succeeded"
    writes = [statement for statement in executed if statement.lstrip().startswith("UPDATE tasks")]
    assert len(writes) == 2
    async with runtime.db.sessionmaker() as session:
        done = await session.get(Task, task.id, populate_existing=True)
    assert done is not None and (done.progress_done, done.progress_total) == (1, 1)
