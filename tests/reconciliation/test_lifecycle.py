"""Status transitions, the three-day boundary in São Paulo local days, expiry, the daily
schedule and remittances that survive a retried task."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import select

from gateway.reconciliation import flows, remittances
from gateway.reconciliation.models import CardSaleEvent, Remittance, RemittanceStatus
from gateway.reconciliation.windows import fetch_days, local_day, window_end
from gateway.tasks import service as tasks_service
from gateway.tasks.models import Task
from gateway.webhooks.events import RemittanceReturned, ReturnItem
from tests.reconciliation.support import TZ, at_local, today_local

TODAY = today_local()


def test_the_window_counts_sao_paulo_days() -> None:
    # 2024-05-11 01:00 UTC is 2024-05-10 22:00 in São Paulo.
    sold = datetime(2024, 5, 11, 1, 0, tzinfo=UTC)
    assert local_day(sold, TZ) == date(2024, 5, 10)
    assert window_end(date(2024, 5, 10), TZ) == datetime(2024, 5, 14, 3, 0, tzinfo=UTC)
    assert local_day(sold, "UTC") == date(2024, 5, 11)
    assert fetch_days(datetime(2024, 5, 11, 2, 59, tzinfo=UTC), TZ) == (date(2024, 5, 7), date(2024, 5, 10))
    assert fetch_days(datetime(2024, 5, 11, 3, 0, tzinfo=UTC), TZ) == (date(2024, 5, 8), date(2024, 5, 11))


async def statuses(boavista) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {sid: s.status for sid, s in (await boavista.sales()).items()}


def row(sale_id: str, day: date, hour: int = 10) -> dict[str, object]:
    return {
        "sale_id": sale_id,
        "sold_at": at_local(day, hour).isoformat(),
        "gross_amount_cents": 990,
        "installments": 1,
        "brand": "elo",
        "payment_type": "debit",
        "nsu": "1",
        "authorization_code": "1",
        "terminal_id": "T",
    }


async def test_unreconciled_sales_expire_exactly_when_their_window_ends(runtime, boavista) -> None:
    day = TODAY - timedelta(days=1)
    await boavista.post_sales([row("P", day), row("S", day), row("D", day), row("R", day)])
    async with runtime.db.unit_of_work() as session:  # one of each unreconciled status, and a reconciled one
        remittance = await remittances.prepare_next(
            session, boavista.tenant.tenant_id, boavista.code, uuid.uuid4(), TZ, at_local(TODAY)
        )
        assert remittance is not None
    async with runtime.db.unit_of_work() as session:
        returned = RemittanceReturned(
            establishment_code=boavista.code,
            remittance_id=remittance.remittance_id,
            returned_at=datetime.now(UTC),
            items=[ReturnItem("D", "divergent", "not_found"), ReturnItem("R", "matched", None, "ACQ1")],
        )
        assert (await remittances.apply_return(session, boavista.tenant.tenant_id, returned))["matched"] == 1
    await boavista.client.patch("/v1/reconciliation/sales/P", json={"nsu": "2"}, headers=boavista.tenant.headers)
    # P was corrected today, so its window now runs three days from today, not from its sale day.
    boundary = window_end(day, TZ)
    assert await flows.expire(runtime, boavista.tenant.tenant_id, boundary - timedelta(seconds=1)) == 0
    assert await flows.expire(runtime, boavista.tenant.tenant_id, boundary) == 2
    assert await statuses(boavista) == {"P": "pending", "S": "expired", "D": "expired", "R": "reconciled"}
    assert await flows.expire(runtime, boavista.tenant.tenant_id, window_end(TODAY, TZ)) == 1
    assert (await statuses(boavista))["P"] == "expired"

    # A late "matched" still reconciles an expired sale; a late "divergent" leaves it for a person.
    async with runtime.db.unit_of_work() as session:
        late = RemittanceReturned(
            establishment_code=boavista.code,
            remittance_id=remittance.remittance_id,
            returned_at=datetime.now(UTC),
            items=[ReturnItem("S", "matched", None, "ACQ2")],
        )
        assert (await remittances.apply_return(session, boavista.tenant.tenant_id, late)) == {"duplicate_returns": 1}
    # An expired sale is corrected back in line.
    r = await boavista.client.patch("/v1/reconciliation/sales/D", json={"nsu": "7"}, headers=boavista.tenant.headers)
    assert r.json()["status"] == "pending"


async def test_a_late_match_reconciles_an_expired_sale(runtime, boavista) -> None:
    day = TODAY - timedelta(days=1)
    await boavista.post_sales([row("A", day), row("B", day)])
    async with runtime.db.unit_of_work() as session:
        remittance = await remittances.prepare_next(
            session, boavista.tenant.tenant_id, boavista.code, uuid.uuid4(), TZ, at_local(TODAY)
        )
    assert remittance is not None
    await flows.expire(runtime, boavista.tenant.tenant_id, window_end(day, TZ))
    async with runtime.db.unit_of_work() as session:
        returned = RemittanceReturned(
            establishment_code=boavista.code,
            remittance_id=remittance.remittance_id,
            returned_at=datetime.now(UTC),
            items=[ReturnItem("A", "matched", None, "ACQ1"), ReturnItem("B", "divergent", "amount")],
        )
        counts = await remittances.apply_return(session, boavista.tenant.tenant_id, returned)
    assert counts["matched"] == 1 and counts["stale"] == 1
    assert await statuses(boavista) == {"A": "reconciled", "B": "expired"}


async def test_only_pending_sales_of_past_days_inside_their_window_are_remitted(runtime, boavista) -> None:
    now = at_local(TODAY, 12)
    await boavista.post_sales(
        [
            row("today", TODAY, 0),  # midnight: never in the future, whenever the suite runs
            row("yesterday", TODAY - timedelta(days=1)),
            row("edge", TODAY - timedelta(days=3), 1),
        ]
    )
    async with runtime.db.unit_of_work() as session:
        remittance = await remittances.prepare_next(
            session, boavista.tenant.tenant_id, boavista.code, uuid.uuid4(), TZ, now
        )
    assert remittance is not None
    assert await statuses(boavista) == {"today": "pending", "yesterday": "sent", "edge": "sent"}
    async with runtime.db.unit_of_work() as session:  # nothing else is eligible
        assert (
            await remittances.prepare_next(session, boavista.tenant.tenant_id, boavista.code, uuid.uuid4(), TZ, now)
            is None
        )


async def test_daily_schedule_makes_one_run_per_tenant_per_local_day(runtime, boavista, tenants, client) -> None:
    await boavista.enable()
    disabled = await tenants.create()
    await client.put(
        "/v1/reconciliation/establishment", json={"enabled": False, "establishment_code": "1"}, headers=disabled.headers
    )
    evening = datetime(2024, 5, 10, 23, 0, tzinfo=UTC)  # 20:00 in São Paulo
    assert await flows.schedule_daily(runtime, evening) == 1
    assert await flows.schedule_daily(runtime, evening + timedelta(hours=3)) == 0  # 23:00 local: same day
    assert await flows.schedule_daily(runtime, evening + timedelta(hours=4)) == 1  # local midnight: a new day
    async with runtime.db.sessionmaker() as session:
        runs = list(await session.scalars(select(Task).where(Task.kind == flows.RUN_KIND).order_by(Task.created_at)))
    assert [(t.tenant_id, t.dedup_key, t.trigger) for t in runs] == [
        (boavista.tenant.tenant_id, "daily:2024-05-10", "scheduled"),
        (boavista.tenant.tenant_id, "daily:2024-05-11", "scheduled"),
    ]


async def test_a_retried_run_resends_the_prepared_remittance_under_the_same_id(
    runtime, boavista, worker, sandbox_faults
) -> None:
    await boavista.enable()
    await boavista.post_sales([row(f"S{i}", TODAY - timedelta(days=1), 9 + i) for i in range(3)])
    # Boavista fails the first send: the task retries and sends the same remittance again.
    faults = {"error_rate": 1.0}
    async with httpx.AsyncClient(base_url=sandbox_faults) as admin:
        (await admin.put("/_faults/boavista", json=faults)).raise_for_status()
        async with runtime.db.unit_of_work(runtime.queue) as session:
            task, _ = await tasks_service.create_task(
                session,
                tenant_id=boavista.tenant.tenant_id,
                kind=flows.RUN_KIND,
                params={"now": at_local(TODAY, 12).isoformat()},
            )
        await worker(max_burst_jobs=1)
        await admin.delete("/_faults/")
    async with runtime.db.sessionmaker() as session:
        failed_once = await session.get_one(Task, task.id)
    assert failed_once.status == "queued" and failed_once.attempt == 1
    # The first attempt never reached the remittance (the fetch failed first); simulate a crash
    # between recording and sending by preparing it under this task, as attempt 1 would have.
    async with runtime.db.unit_of_work() as session:
        prepared = await remittances.prepare_next(
            session, boavista.tenant.tenant_id, boavista.code, task.id, TZ, at_local(TODAY, 12)
        )
    assert prepared is not None
    await worker()
    async with runtime.db.sessionmaker() as session:
        done = await session.get_one(Task, task.id)
        sent = list(await session.scalars(select(Remittance).where(Remittance.task_id == task.id)))
        sent_events = list(await session.scalars(select(CardSaleEvent).where(CardSaleEvent.kind == "sent")))
    assert done.status == "succeeded" and done.attempt == 2
    assert [(r.remittance_id, r.status) for r in sent] == [(prepared.remittance_id, RemittanceStatus.sent)]
    assert len(sent_events) == 3 and done.counters["sales_sent"] == 3
    assert await boavista.relay.wait_for(prepared.remittance_id)
