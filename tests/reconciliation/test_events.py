"""Reconciliation's outbound events: the applied return, each divergence it opens, each expired sale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from sqlalchemy import text

from gateway.reconciliation import flows, remittances
from gateway.reconciliation.windows import window_end
from gateway.webhooks.events import RemittanceReturned, ReturnItem
from tests.reconciliation.support import TZ, at_local, today_local
from tests.reconciliation.test_lifecycle import row

TODAY = today_local()


async def events(runtime, tenant_id) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    async with runtime.db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT body FROM events WHERE tenant_id = :t ORDER BY created_at, type"), {"t": tenant_id}
        )
        return [msgspec.json.decode(r[0]) for r in rows]


async def test_return_divergences_and_expiry_are_events(runtime, boavista) -> None:
    tenant_id = boavista.tenant.tenant_id
    day = TODAY - timedelta(days=1)
    await boavista.post_sales([row("P", day), row("D", day), row("R", day)])
    async with runtime.db.unit_of_work() as session:
        remittance = await remittances.prepare_next(
            session, tenant_id, boavista.code, uuid.uuid4(), TZ, at_local(TODAY)
        )
        assert remittance is not None
    returned = RemittanceReturned(
        establishment_code=boavista.code,
        remittance_id=remittance.remittance_id,
        returned_at=datetime.now(UTC),
        items=[ReturnItem("D", "divergent", "not_found"), ReturnItem("R", "matched", None, "ACQ1")],
    )

    class Boom(Exception):
        pass

    async def apply_then_fail() -> None:
        async with runtime.db.unit_of_work() as session:
            await remittances.apply_return(session, tenant_id, returned)
            raise Boom

    with pytest.raises(Boom):  # a return whose transaction rolls back tells nobody anything
        await apply_then_fail()
    assert await events(runtime, tenant_id) == []

    async with runtime.db.unit_of_work() as session:
        await remittances.apply_return(session, tenant_id, returned)
    divergence, summary = await events(runtime, tenant_id)  # one transaction: ordered by type
    assert summary["type"] == "reconciliation.remittance.returned"
    assert summary["data"]["remittance_id"] == remittance.remittance_id  # type: ignore[index]
    assert (summary["data"]["matched"], summary["data"]["divergent"]) == (1, 1)  # type: ignore[index]
    assert divergence["type"] == "reconciliation.divergence.opened"
    assert (divergence["data"]["sale_id"], divergence["data"]["reason"]) == ("D", "not_found")  # type: ignore[index]
    assert divergence["data"]["gross_amount_cents"] == 990  # type: ignore[index]

    assert await flows.expire(runtime, tenant_id, window_end(day, TZ)) == 2
    expired = [e for e in await events(runtime, tenant_id) if e["type"] == "reconciliation.sale.expired"]
    assert sorted(e["data"]["sale_id"] for e in expired) == ["D", "P"]  # type: ignore[index]
