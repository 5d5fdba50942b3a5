"""Receipts settled at the broker are not reverted by imports (seed 000, "folha de caixa diária")."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from gateway.imports.models import Policy, PolicyReceipt
from gateway.imports.upsert import apply_records
from tests.imports.conftest import days_ago, get_import, launch, period
from tests.imports.test_rules import AUG, JULY, SEPT, record


async def apply_task(runtime, tenant_id, *records):  # type: ignore[no-untyped-def]
    """Apply records as an import task would, with result rows (the task row must exist)."""
    from gateway.tasks import service as tasks_service

    async with runtime.db.unit_of_work() as session:
        task, _ = await tasks_service.create_task(session, tenant_id=tenant_id, kind="import.run", params={})
    async with runtime.db.unit_of_work() as session:
        tally = await apply_records(session, list(records), tenant_id=tenant_id, insurer="allianz", task_id=task.id)
    return task.id, dict(tally.counters)


async def policy_id(runtime, tenant_id) -> uuid.UUID:  # type: ignore[no-untyped-def]
    async with runtime.db.sessionmaker() as session:
        return (await session.scalars(select(Policy.id).where(Policy.tenant_id == tenant_id))).one()


async def receipt(runtime, tenant_id) -> PolicyReceipt:  # type: ignore[no-untyped-def]
    async with runtime.db.sessionmaker() as session:
        return (await session.scalars(select(PolicyReceipt).where(PolicyReceipt.tenant_id == tenant_id))).one()


async def test_a_settled_receipt_keeps_its_status_and_the_import_reports_the_conflict(client, runtime, tenants) -> None:
    t = await tenants.create()
    await apply_task(runtime, t.tenant_id, record(as_of=JULY, receipt_status="pending"))
    pid = await policy_id(runtime, t.tenant_id)
    url = f"/v1/policies/{pid}/receipts/R-ALL-1-0000001/settlement"
    r = await client.put(url, json={"status": "paid", "settled_on": "2026-08-02"}, headers=t.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid" and r.json()["settled_at"] is not None
    assert [(h["from_status"], h["to_status"]) for h in r.json()["status_history"]] == [
        (None, "pending"),
        ("pending", "paid"),
    ]

    # A newer snapshot still saying pending (the insurer has not caught up) changes nothing.
    task_id, counters = await apply_task(runtime, t.tenant_id, record(as_of=AUG, receipt_status="pending"))
    assert counters == {"policies_unchanged": 1, "receipts_settled_kept": 1}
    stored = await receipt(runtime, t.tenant_id)
    assert (stored.status, stored.status_changed_on.isoformat()) == ("paid", "2026-08-02")
    results = await client.get(f"/v1/imports/{task_id}/results?outcome=settled_kept", headers=t.headers)
    [row] = results.json()["items"]
    assert row["receipt_number"] == "R-ALL-1-0000001"
    assert "settled at the broker as paid" in row["error"] and "brought pending" in row["error"]
    csv = (await client.get(f"/v1/imports/{task_id}/results.csv", headers=t.headers)).text
    assert "settled_kept" in csv

    # The same status from the insurer is no conflict; a conflicting one (returned) is kept out too.
    _, counters = await apply_task(runtime, t.tenant_id, record(as_of=SEPT, receipt_status="paid"))
    assert counters == {"policies_unchanged": 1, "receipts_updated": 1}
    _, counters = await apply_task(
        runtime, t.tenant_id, record(as_of="2026-10-31T23:59:59Z", receipt_status="returned")
    )
    assert counters["receipts_settled_kept"] == 1
    assert (await receipt(runtime, t.tenant_id)).status == "paid"

    # Settling again with another status is refused; undoing the settlement lets imports in again.
    assert (await client.put(url, json={"status": "returned"}, headers=t.headers)).status_code == 409
    assert (await client.delete(url, headers=t.headers)).json()["settled_at"] is None
    _, counters = await apply_task(
        runtime, t.tenant_id, record(as_of="2026-11-30T23:59:59Z", receipt_status="returned")
    )
    assert counters.get("receipts_settled_kept") is None
    assert (await receipt(runtime, t.tenant_id)).status == "returned"


async def test_settlement_is_scoped_and_checked(client, runtime, tenants) -> None:
    t, other = await tenants.create(), await tenants.create()
    await apply_task(runtime, t.tenant_id, record())
    pid = await policy_id(runtime, t.tenant_id)
    url = f"/v1/policies/{pid}/receipts/R-ALL-1-0000001/settlement"
    assert (await client.put(url, json={}, headers=other.headers)).status_code == 404
    missing = f"/v1/policies/{pid}/receipts/nope/settlement"
    assert (await client.put(missing, json={}, headers=t.headers)).status_code == 404
    assert (await client.put(url, json={"status": "lost"}, headers=t.headers)).status_code == 422
    r = await client.put(url, json={}, headers=t.headers)
    assert r.json()["status"] == "paid"
    # An older snapshot is stale_skipped as before: the stale guard comes first.
    _, counters = await apply_task(runtime, t.tenant_id, record(as_of="2026-06-30T23:59:59Z"))
    assert counters == {"policies_stale_skipped": 1, "receipts_stale_skipped": 1}


async def test_an_import_task_counts_the_conflict_end_to_end(client, runtime, tenants, worker, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    body = {"period": period(days_ago(15), days_ago(0))}
    await launch(client, t, conn, **body)
    await worker()
    async with runtime.db.sessionmaker() as session:
        pending = (
            await session.execute(
                select(Policy.id, PolicyReceipt.receipt_number)
                .join(PolicyReceipt, (PolicyReceipt.tenant_id == Policy.tenant_id)
                      & (PolicyReceipt.policy_number == Policy.policy_number))
                .where(Policy.tenant_id == t.tenant_id, PolicyReceipt.status == "pending")
                .limit(2)
            )
        ).all()  # fmt: skip
    assert len(pending) == 2
    for pid, number in pending:
        r = await client.put(f"/v1/policies/{pid}/receipts/{number}/settlement", json={}, headers=t.headers)
        assert r.status_code == 200, r.text
    again = (await launch(client, t, conn, **body))["task"]
    await worker()
    done = await get_import(client, t, again["id"])
    assert done["counters"]["receipts"]["settled_kept"] == 2
    rows = (await client.get(f"/v1/imports/{again['id']}/results?outcome=settled_kept", headers=t.headers)).json()
    assert sorted(r["receipt_number"] for r in rows["items"]) == sorted(n for _, n in pending)
    async with runtime.db.sessionmaker() as session:
        statuses = await session.scalars(
            select(PolicyReceipt.status).where(PolicyReceipt.receipt_number.in_([n for _, n in pending]))
        )
        assert set(statuses) == {"paid"}
