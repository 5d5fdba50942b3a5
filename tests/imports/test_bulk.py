"""Bulk statements: a column the same in every row of a big page travels once."""

from __future__ import annotations

from gateway.imports import bulk
from gateway.imports.models import Policy, PolicySource, ReceiptStatusChange
from gateway.imports.upsert import apply_records
from gateway.runtime import Runtime
from tests.imports.test_rules import record, stored


def records(n: int) -> list[dict]:
    return [record(f"ALL-1-{i:07d}", holder_name=f"Holder {i}") for i in range(n)]


async def test_a_column_shared_by_every_row_of_a_big_page_is_one_parameter(runtime: Runtime, tenants) -> None:
    t = await tenants.create()
    async with runtime.db.unit_of_work() as session:
        tally = await apply_records(session, records(150), tenant_id=t.tenant_id, insurer="allianz", task_id=None)
    assert tally.counters["policies_created"] == 150
    rows = [
        {**r, "tenant_id": t.tenant_id, "insurer": "allianz", "content_hash": b"x", "as_of": r["as_of"]}
        for r in records(bulk.SHARED_FROM)
    ]
    statement, params = bulk.UPSERT_POLICIES.params(rows)
    assert params["tenant_id"] == t.tenant_id and params["currency"] == "EUR"
    assert isinstance(params["policy_number"], list) and isinstance(params["holder_name"], list)
    assert "CAST(:tenant_id AS uuid) AS tenant_id" in statement.text
    # A smaller page sends every column as an array: small writes keep one statement.
    small, params = bulk.UPSERT_POLICIES.params(rows[1:])
    assert all(isinstance(v, list) for v in params.values()) and "CAST(:tenant_id AS uuid[])" in small.text

    stored_policies = await stored(runtime, Policy)
    assert {p.policy_number for p in stored_policies} == {f"ALL-1-{i:07d}" for i in range(150)}
    assert {(p.tenant_id, p.insurer, p.currency, p.as_of.month) for p in stored_policies} == {
        (t.tenant_id, "allianz", "EUR", 7)
    }
    assert len({p.holder_name for p in stored_policies}) == 150
    # The sources and the history name the shared source and the shared first status.
    sources = await stored(runtime, PolicySource)
    assert len(sources) == 150 and {s.source for s in sources} == {"allianz"}
    history = await stored(runtime, ReceiptStatusChange)
    assert len(history) == 150 and {(h.from_status, h.to_status) for h in history} == {(None, "pending")}


async def test_rows_alike_in_every_column_are_all_written(runtime: Runtime, tenants) -> None:
    """One column stays an array, so the rows keep their number."""
    t = await tenants.create()
    async with runtime.db.unit_of_work() as session:
        await apply_records(session, [record()], tenant_id=t.tenant_id, insurer="allianz", task_id=None)
    [policy] = await stored(runtime, Policy)
    change = {
        "tenant_id": t.tenant_id, "insurer": "allianz", "receipt_number": "R-ALL-1-0000001", "from_status": "pending",
        "to_status": "paid", "changed_on": None, "as_of": policy.as_of, "task_id": None,
    }  # fmt: skip
    _, params = bulk.INSERT_HISTORY.params([change] * 120)
    assert params["tenant_id"] == [t.tenant_id] * 120
    assert all(not isinstance(v, list) for k, v in params.items() if k != "tenant_id")
    async with runtime.db.unit_of_work() as session:
        await bulk.execute(session, bulk.INSERT_HISTORY, [change] * 120)
    paid = [h for h in await stored(runtime, ReceiptStatusChange) if h.to_status == "paid"]
    assert len(paid) == 120 and {h.from_status for h in paid} == {"pending"}
