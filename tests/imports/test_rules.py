"""The upsert rules, applied directly to pages of records (no partner involved)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from gateway.imports.models import Policy, PolicyReceipt, ReceiptStatusChange
from gateway.imports.upsert import apply_records
from gateway.runtime import Runtime
from tests.imports.conftest import days_ago, get_import, launch, period, policies

JULY, AUG, SEPT = "2026-07-31T23:59:59Z", "2026-08-31T23:59:59Z", "2026-09-30T23:59:59Z"


def record(
    number: str = "ALL-1-0000001", as_of: str = JULY, receipt_status: str = "pending", **fields: Any
) -> dict[str, Any]:
    return {
        "policy_number": number, "insurer": "allianz", "product": "Saúde", "status": "active",
        "holder_name": "Rita Rodrigues", "holder_tax_id": "267725817", "holder_tax_id_type": "NIF",
        "start_date": "2026-01-01", "end_date": "2026-12-31", "premium_cents": 72287, "currency": "EUR",
        "updated_on": "2026-07-01", "as_of": as_of,
        "receipts": [{"receipt_number": f"R-{number}", "due_date": "2026-07-30", "amount_cents": 72287,
                      "status": receipt_status, "status_changed_on": "2026-07-01"}],
        **fields,
    }  # fmt: skip


async def apply(runtime: Runtime, tenant_id: uuid.UUID, *records: dict[str, Any]) -> dict[str, int]:
    async with runtime.db.unit_of_work() as session:
        tally = await apply_records(session, list(records), tenant_id=tenant_id, insurer="allianz", task_id=None)
    return dict(tally.counters)


async def stored(runtime: Runtime, model: Any) -> list[Any]:
    async with runtime.db.sessionmaker() as session:
        return list((await session.scalars(select(model))).all())


async def test_upsert_by_number_and_hash_decides_updated_or_unchanged(runtime, tenants) -> None:
    t = await tenants.create()
    assert await apply(runtime, t.tenant_id, record()) == {"policies_created": 1, "receipts_created": 1}
    assert await apply(runtime, t.tenant_id, record()) == {"policies_unchanged": 1, "receipts_unchanged": 1}
    changed = await apply(runtime, t.tenant_id, record(as_of=AUG, premium_cents=80000))
    assert changed == {"policies_updated": 1, "receipts_unchanged": 1}
    [policy] = await stored(runtime, Policy)
    assert policy.premium_cents == 80000
    assert policy.as_of.month == 8
    assert len(await stored(runtime, PolicyReceipt)) == 1


async def test_older_snapshot_never_overwrites_a_newer_one(runtime, tenants) -> None:
    t = await tenants.create()
    await apply(runtime, t.tenant_id, record(as_of=SEPT, receipt_status="paid"))
    stale = await apply(runtime, t.tenant_id, record(as_of=JULY, receipt_status="pending", premium_cents=1))
    assert stale == {"policies_stale_skipped": 1, "receipts_stale_skipped": 1}
    [policy], [receipt] = await stored(runtime, Policy), await stored(runtime, PolicyReceipt)
    assert (policy.premium_cents, receipt.status, policy.as_of.month) == (72287, "paid", 9)


async def test_a_newer_unchanged_snapshot_still_moves_as_of_forward(runtime, tenants) -> None:
    t = await tenants.create()
    await apply(runtime, t.tenant_id, record(as_of=JULY))
    assert await apply(runtime, t.tenant_id, record(as_of=SEPT)) == {"policies_unchanged": 1, "receipts_unchanged": 1}
    # August arrives last with different content: it is older than what September confirmed.
    late = await apply(runtime, t.tenant_id, record(as_of=AUG, premium_cents=5))
    assert late == {"policies_stale_skipped": 1, "receipts_stale_skipped": 1}
    [policy] = await stored(runtime, Policy)
    assert policy.premium_cents == 72287


async def test_receipt_status_history_is_kept(runtime, tenants) -> None:
    t = await tenants.create()
    await apply(runtime, t.tenant_id, record(as_of=JULY))
    await apply(runtime, t.tenant_id, record(as_of=AUG, receipt_status="paid"))
    await apply(runtime, t.tenant_id, record(as_of=SEPT, receipt_status="paid"))
    changes = sorted(await stored(runtime, ReceiptStatusChange), key=lambda c: c.id)
    assert [(c.from_status, c.to_status) for c in changes] == [(None, "pending"), ("pending", "paid")]


async def test_bad_records_fail_alone(runtime, tenants) -> None:
    t = await tenants.create()
    page = [
        record("A"),
        record(None),  # no number
        record("B", start_date="2024-02-30"),
        record("C", holder_name="nul\x00byte"),  # valid to us, refused by PostgreSQL
        record("D", receipts=[{"receipt_number": "R-D", "status": "lost", "amount_cents": 1}]),
    ]
    counters = await apply(runtime, t.tenant_id, *page)
    assert counters == {"policies_created": 2, "policies_failed": 3, "receipts_created": 1, "receipts_failed": 1}
    assert sorted(p.policy_number for p in await stored(runtime, Policy)) == ["A", "D"]


async def test_duplicate_numbers_in_one_page_keep_the_newest(runtime, tenants) -> None:
    t = await tenants.create()
    counters = await apply(runtime, t.tenant_id, record(as_of=SEPT, premium_cents=9), record(as_of=JULY))
    assert counters["policies_created"] == 1
    [policy] = await stored(runtime, Policy)
    assert policy.premium_cents == 9


async def test_stale_guard_holds_whatever_order_tasks_finish_in(client, tenants, worker, runtime, connect) -> None:
    """Allianz answers "as it was": the recent window runs first, the older one last."""
    t = await tenants.create()
    conn = await connect(t, "allianz")
    recent = (await launch(client, t, conn, period=period(days_ago(20), days_ago(0))))["task"]
    await worker()
    after_recent = {p.policy_number: p.content_hash for p in await policies(runtime, t.tenant_id)}
    older = (await launch(client, t, conn, period=period(days_ago(50), days_ago(21))))["task"]
    await worker()
    done = await get_import(client, t, older["id"])
    assert done["counters"]["policies"]["stale_skipped"] > 0
    for p in await policies(runtime, t.tenant_id):
        if p.policy_number in after_recent:
            assert p.content_hash == after_recent[p.policy_number]  # (its chained task re-confirmed it)
    assert (await get_import(client, t, recent["id"]))["status"] == "succeeded"


async def test_the_guard_is_in_sql_not_only_in_the_counters(runtime, tenants) -> None:
    """A writer that read before a newer snapshot committed still cannot roll it back."""
    from gateway.imports import bulk
    from gateway.imports.records import policy_rows

    t = await tenants.create()
    await apply(runtime, t.tenant_id, record(as_of=SEPT))
    older = policy_rows(record(as_of=JULY, premium_cents=1), tenant_id=t.tenant_id, insurer="allianz").policy
    async with runtime.db.unit_of_work() as session:
        await bulk.execute(session, bulk.UPSERT_POLICIES, [older])
    [policy] = await stored(runtime, Policy)
    assert (policy.premium_cents, policy.as_of.month) == (72287, 9)
