"""Scheduled imports from PostgreSQL, and real-time pushes through the webhook inbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select, update

from gateway.imports.models import InsurerConnection, PolicyReceipt, ReceiptStatusChange
from gateway.imports.schedule import schedule_due_imports
from gateway.partners.insurer_soap import InsurerSoapClient
from tests.imports.conftest import TODAY, days_ago, get_import, load_task, policies
from tests.loopback import LOOPBACK_EGRESS
from tests.webhooks.support import create_endpoint, deliver

NOON = datetime.combine(TODAY, time(12), tzinfo=UTC)


async def set_coverage(runtime, connection_id: str, covered_until) -> None:
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(InsurerConnection)
            .where(InsurerConnection.id == uuid.UUID(connection_id))
            .values(covered_until=covered_until)
        )


async def test_schedule_is_due_after_its_local_time_and_catches_up_a_gap(
    client, tenants, runtime, worker, connect
) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta", schedule={"time": "13:30", "timezone": "Europe/Warsaw"})  # 12:30 UTC in winter
    await set_coverage(runtime, conn["id"], TODAY - timedelta(days=4))  # three days of downtime
    assert await schedule_due_imports(runtime, NOON) == []
    [task_id] = await schedule_due_imports(runtime, NOON + timedelta(hours=1))
    task = await get_import(client, t, str(task_id))
    assert task["trigger"] == "scheduled"
    assert task["period"] == {"from": days_ago(4), "to": days_ago(0)}
    await worker()
    assert (await get_import(client, t, str(task_id)))["status"] in ("succeeded", "partially_succeeded")
    r = await client.get(f"/v1/insurer-connections/{conn['id']}", headers=t.headers)
    assert r.json()["covered_until"] == days_ago(0)  # the next run starts from here


async def test_one_scheduled_task_per_connection_per_day_with_several_workers(
    client, tenants, runtime, connect
) -> None:
    t = await tenants.create()
    conn = await connect(t, "allianz", schedule={"time": "00:00", "timezone": "UTC"})
    await connect(t, "ageas", schedule={"time": "00:00", "timezone": "UTC", "enabled": False})
    ticks = await asyncio.gather(*(schedule_due_imports(runtime, NOON) for _ in range(4)))
    assert sum(len(created) for created in ticks) == 1  # ageas's schedule is off
    assert await schedule_due_imports(runtime, NOON + timedelta(hours=3)) == []
    tomorrow = await schedule_due_imports(runtime, NOON + timedelta(days=1))
    assert len(tomorrow) == 1
    history = (await client.get(f"/v1/insurer-connections/{conn['id']}/imports", headers=t.headers)).json()["items"]
    assert [h["trigger"] for h in history] == ["scheduled", "scheduled"]


def pushed_policy(number: str, as_of: str, status: str) -> dict:
    return {
        "insurer": "allianz", "policy_number": number, "product": "Saúde", "status": "active",
        "holder_name": "Rita Rodrigues", "holder_tax_id": "267725817", "holder_tax_id_type": "NIF",
        "start_date": "2026-01-01", "end_date": "2026-12-31", "premium_cents": 1000, "currency": "EUR",
        "updated_on": "2026-11-01", "as_of": as_of,
        "receipts": [{"receipt_number": f"R{number}", "due_date": "2026-02-01", "amount_cents": 1000,
                      "status": status, "status_changed_on": "2026-01-01"}],
    }  # fmt: skip


async def test_realtime_pushes_go_through_the_same_upsert(client, tenants, runtime, worker, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "allianz")
    endpoint = await create_endpoint(client, t.headers, source="insurer:allianz")
    now = datetime.now(UTC).isoformat()
    body = json.dumps({"type": "policy.upserted", "data": pushed_policy("ALL-9", now, "pending")}).encode()
    assert (await deliver(client, endpoint, body)).status_code == 202
    change = {
        "insurer": "allianz", "policy_number": "ALL-9", "receipt_number": "RALL-9", "status": "paid",
        "changed_at": "2026-11-20T00:00:00Z", "as_of": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }  # fmt: skip
    await worker()
    assert (
        await deliver(client, endpoint, json.dumps({"type": "receipt.status_changed", "data": change}).encode())
    ).status_code == 202
    # A stale push (older as_of) is counted, not applied.
    stale = pushed_policy("ALL-9", "2026-01-01T00:00:00Z", "returned")
    assert (
        await deliver(client, endpoint, json.dumps({"type": "policy.upserted", "data": stale}).encode())
    ).status_code == 202
    await worker()
    [policy] = await policies(runtime, t.tenant_id)
    async with runtime.db.sessionmaker() as session:
        [receipt] = (await session.scalars(select(PolicyReceipt))).all()
        history = (await session.scalars(select(ReceiptStatusChange).order_by(ReceiptStatusChange.id))).all()
    assert receipt.status == "paid"
    assert [(h.from_status, h.to_status) for h in history] == [(None, "pending"), ("pending", "paid")]
    items = (
        await client.get(
            f"/v1/insurer-connections/{conn['id']}/imports", params={"trigger": "real_time"}, headers=t.headers
        )
    ).json()["items"]
    seen = sorted(
        (c["policies"]["created"], c["receipts"]["updated"], c["policies"]["stale_skipped"])
        for c in (i["counters"] for i in items)
    )
    assert seen == [(0, 0, 1), (0, 1, 0), (1, 0, 0)]  # the stale push is counted, not applied
    detail = (await client.get(f"/v1/policies/{policy.id}", headers=t.headers)).json()
    assert [h["to_status"] for h in detail["receipts"][0]["status_history"]] == ["pending", "paid"]


async def test_a_push_for_an_unknown_receipt_reads_its_policy(
    client, tenants, runtime, worker, connect, sandbox
) -> None:
    t = await tenants.create()
    await connect(t, "allianz")
    endpoint = await create_endpoint(client, t.headers, source="insurer:allianz")
    async with InsurerSoapClient(
        f"{sandbox.url}/insurers/soap/allianz", "allianz", "broker-1", "sandbox", egress=LOOPBACK_EGRESS
    ) as soap:
        [first, *_] = [
            p
            async for page in soap.iter_portfolio(TODAY - timedelta(days=20), TODAY)
            for p in page
            if p["policy_number"]
        ]
    receipt = first["receipts"][-1]
    change = {
        "insurer": "allianz", "policy_number": first["policy_number"], "receipt_number": receipt["receipt_number"],
        "status": receipt["status"], "changed_at": receipt["status_changed_on"], "as_of": first["as_of"],
    }  # fmt: skip
    assert (
        await deliver(client, endpoint, json.dumps({"type": "receipt.status_changed", "data": change}).encode())
    ).status_code == 202
    await worker()
    [stored] = await policies(runtime, t.tenant_id)
    assert stored.policy_number == first["policy_number"]


async def test_a_push_from_another_insurers_endpoint_is_refused(client, tenants, runtime, worker, connect) -> None:
    t = await tenants.create()
    await connect(t, "allianz")
    endpoint = await create_endpoint(client, t.headers, source="insurer:zurich")
    body = json.dumps(
        {"type": "policy.upserted", "data": pushed_policy("ALL-1", datetime.now(UTC).isoformat(), "paid")}
    )
    assert (await deliver(client, endpoint, body.encode())).status_code == 202
    await worker()
    assert await policies(runtime, t.tenant_id) == []
    events = (await client.get("/v1/webhook-events", headers=t.headers)).json()["items"]
    assert events[0]["status"] == "failed"
    assert "insurer:zurich" in events[0]["error"]
    task = await load_task(runtime, events[0]["task_id"])
    assert task.status == "failed"
