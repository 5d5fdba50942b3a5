"""End to end against the Boavista sandbox: fetch, match, remit, signed return, queue, corrections."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from gateway.db.base import utcnow
from gateway.reconciliation import flows
from gateway.reconciliation.models import AcquirerSale, CardSale, CardSaleEvent, Remittance, RemittanceItem
from gateway.tasks.models import Task
from tests.reconciliation.support import PLANTED_DAYS, at_local, today_local

TODAY = today_local()
NOON = at_local(TODAY, 12)
DAYS = list(PLANTED_DAYS)


async def post_erp_days(boavista) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Post the ERP's sales of two past days; returns the planted divergence per sale id."""
    planted: dict[str, str] = {}
    for day in DAYS:
        erp = await boavista.erp_day(day)
        r = await boavista.post_sales(erp["items"])
        assert r.status_code == 200, r.text
        planted.update(erp["divergences"])
    return planted


async def task(runtime, task_id) -> Task:  # type: ignore[no-untyped-def]
    async with runtime.db.sessionmaker() as session:
        return await session.get_one(Task, task_id)


async def remittance_ids(runtime, tenant_id) -> list[str]:  # type: ignore[no-untyped-def]
    async with runtime.db.sessionmaker() as session:
        stmt = select(Remittance.remittance_id).where(Remittance.tenant_id == tenant_id).order_by(Remittance.created_at)
        return list(await session.scalars(stmt))


async def test_run_remits_and_the_signed_return_reconciles_each_sale(client, runtime, boavista, worker) -> None:
    await boavista.enable()
    planted = await post_erp_days(boavista)
    # The fixture picks an establishment whose days carry every reason, so each is checked below.
    assert set(planted.values()) == {"authorization", "installments", "amount", "not_found", "duplicate", "nsu"}

    task_id = await boavista.run(NOON, worker)
    done = await task(runtime, task_id)
    assert done.status == "succeeded", done.error
    total = len(await boavista.sales())
    assert done.counters["sales_sent"] == total == 48
    assert done.counters["acquirer_created"] > 0
    assert done.counters["matched_tier2"] + sum(1 for r in planted.values() if r in ("not_found",)) <= total
    [remittance_id] = await remittance_ids(runtime, boavista.tenant.tenant_id)
    assert {s.status for s in (await boavista.sales()).values()} == {"sent"}

    [answer] = await boavista.deliver_returns(remittance_id, worker)
    assert answer.status_code == 202, answer.text
    sales = await boavista.sales()
    for sale_id, sale in sales.items():
        if sale_id in planted:
            assert (sale.status, sale.reason) == ("divergent", planted[sale_id]), sale_id
        else:
            assert (sale.status, sale.reason) == ("reconciled", None), sale_id
            assert sale.acquirer_sale_id
    r = await client.get(f"/v1/reconciliation/remittances/{remittance_id}", headers=boavista.tenant.headers)
    assert r.json()["status"] == "returned"
    assert (r.json()["matched_count"], r.json()["divergent_count"]) == (total - len(planted), len(planted))

    # The divergence queue: largest amount first, with the reason, filterable, paginated.
    headers = boavista.tenant.headers
    queue = (await client.get("/v1/reconciliation/divergences", headers=headers)).json()["items"]
    assert {q["sale_id"]: q["reason"] for q in queue} == planted
    amounts = [q["gross_amount_cents"] for q in queue]
    assert amounts == sorted(amounts, reverse=True)
    first = (await client.get("/v1/reconciliation/divergences", params={"limit": 2}, headers=headers)).json()
    rest = (
        await client.get(
            "/v1/reconciliation/divergences", params={"limit": 500, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    assert [q["sale_id"] for q in first["items"] + rest["items"]] == [q["sale_id"] for q in queue]
    brand = queue[0]["brand"]
    by_brand = (await client.get("/v1/reconciliation/divergences", params={"brand": brand}, headers=headers)).json()[
        "items"
    ]
    assert by_brand and {q["brand"] for q in by_brand} == {brand}
    day = DAYS[0].isoformat()
    by_day = (await client.get("/v1/reconciliation/divergences", params={"day": day}, headers=headers)).json()["items"]
    assert {q["sale_id"] for q in by_day} == {q["sale_id"] for q in queue if q["local_day"] == day}
    # Ponte's matcher tells the person what the acquirer registered.
    amount_divergent = next(q for q in queue if q["reason"] == "amount")
    assert any("amount" in m["differences"] and m["tier"] == 3 for m in amount_divergent["matches"])

    # The daily summary: counts and amounts by status.
    summary = (await client.get("/v1/reconciliation/summary", params={"day": day}, headers=headers)).json()
    by_status = {s["status"]: s for s in summary["by_status"]}
    # Sales only: other receivables (invoice payments) are reported apart (test_receivables).
    day_sales = [s for s in sales.values() if s.local_day == DAYS[0] and s.kind == "sale"]
    assert by_status["reconciled"]["count"] == sum(s.status == "reconciled" for s in day_sales)
    assert by_status["divergent"]["amount_cents"] == sum(
        s.gross_amount_cents for s in day_sales if s.status == "divergent"
    )
    assert sum(r["count"] for r in summary["divergent_by_reason"]) == by_status["divergent"]["count"]


async def test_corrected_sale_is_sent_again_and_reconciles(client, runtime, boavista, worker) -> None:
    await boavista.enable()
    planted = await post_erp_days(boavista)
    await boavista.run(NOON, worker)
    [first] = await remittance_ids(runtime, boavista.tenant.tenant_id)
    await boavista.deliver_returns(first, worker)

    fixable = {sid: r for sid, r in planted.items() if r in ("authorization", "installments", "amount", "nsu")}
    assert fixable
    corrected = {}
    for day in DAYS:
        corrected.update({s["sale_id"]: s for s in (await boavista.erp_day(day, corrected="true"))["items"]})
    fields = ("authorization_code", "nsu", "installments", "gross_amount_cents", "brand")
    for sale_id in fixable:
        patch = {f: corrected[sale_id][f] for f in fields}
        r = await client.patch(f"/v1/reconciliation/sales/{sale_id}", json=patch, headers=boavista.tenant.headers)
        assert r.status_code == 200 and r.json()["status"] == "pending"

    done = await task(runtime, await boavista.run(NOON + timedelta(hours=1), worker))
    assert done.counters["sales_sent"] == len(fixable)  # only the corrected ones go again
    second = (await remittance_ids(runtime, boavista.tenant.tenant_id))[-1]
    await boavista.deliver_returns(second, worker)
    sales = await boavista.sales()
    assert all(sales[sid].status == "reconciled" and sales[sid].version == 2 for sid in fixable)
    assert all(sales[sid].status == "divergent" for sid in set(planted) - set(fixable))
    history = (
        await client.get(f"/v1/reconciliation/sales/{next(iter(fixable))}", headers=boavista.tenant.headers)
    ).json()["history"]
    assert [(h["kind"], h["status"]) for h in history] == [
        ("received", "pending"),
        ("sent", "sent"),
        ("returned", "divergent"),
        ("corrected", "pending"),
        ("sent", "sent"),
        ("returned", "reconciled"),
    ]
    r = await client.patch(
        f"/v1/reconciliation/sales/{next(iter(fixable))}", json={"nsu": "1"}, headers=boavista.tenant.headers
    )
    assert r.status_code == 409  # reconciled is final


async def test_duplicate_returns_apply_once(client, runtime, boavista, worker) -> None:
    await boavista.enable()
    planted = await post_erp_days(boavista)
    await boavista.run(NOON, worker)
    [remittance_id] = await remittance_ids(runtime, boavista.tenant.tenant_id)
    await boavista.deliver_returns(remittance_id, worker)

    async def events() -> int:
        async with runtime.db.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(CardSaleEvent)) or 0)

    before = await events()
    # A person corrects a divergent sale while Boavista's messages keep coming.
    sale_id = next(sid for sid, r in planted.items() if r == "authorization")
    await client.patch(
        f"/v1/reconciliation/sales/{sale_id}", json={"authorization_code": "999999"}, headers=boavista.tenant.headers
    )

    # Same webhook id again: the inbox drops it.
    (
        await boavista.admin.post(f"/boavista/_resend/{remittance_id}", params={"establishment": boavista.code})
    ).raise_for_status()
    [again] = await boavista.deliver_returns(remittance_id, worker, nth=2)
    assert again.status_code in (200, 202)
    # A second, distinct return for the same remittance: processed, applied to nothing.
    (
        await boavista.admin.post(f"/boavista/_return_again/{remittance_id}", params={"establishment": boavista.code})
    ).raise_for_status()
    await boavista.deliver_returns(remittance_id, worker, nth=3)

    assert await events() == before + 1  # only the correction
    sales = await boavista.sales()
    assert sales[sale_id].status == "pending"  # the old verdict did not overwrite the correction
    r = await client.get(f"/v1/reconciliation/remittances/{remittance_id}", headers=boavista.tenant.headers)
    assert r.json()["duplicate_returns"] == 1
    events_seen = (await client.get("/v1/webhook-events", headers=boavista.tenant.headers)).json()["items"]
    assert len(events_seen) == 2  # the resend shared its webhook id with the first delivery


async def test_fetch_windows_overlap_and_upsert_on_the_acquirer_id(runtime, boavista, worker) -> None:
    await boavista.enable()
    first = await task(runtime, await boavista.run(NOON - timedelta(days=1), worker))
    second = await task(runtime, await boavista.run(NOON, worker))
    async with runtime.db.sessionmaker() as session:
        ids = list(await session.scalars(select(AcquirerSale.acquirer_sale_id)))
    assert len(ids) == len(set(ids)) == first.counters["acquirer_created"] + second.counters["acquirer_created"]
    # Three of today's four days were already known; they are left untouched.
    assert second.counters["acquirer_unchanged"] > 0 and second.counters.get("acquirer_updated", 0) == 0
    days = Counter((await boavista.sales()).values())
    assert not days  # no ERP sales were posted: nothing to remit
    assert second.counters.get("remittances_sent", 0) == 0


async def test_remittance_items_are_recorded_as_sent(runtime, boavista, worker) -> None:
    await boavista.enable()
    await post_erp_days(boavista)
    await boavista.run(NOON, worker)
    async with runtime.db.sessionmaker() as session:
        items = list(await session.scalars(select(RemittanceItem)))
    assert len(items) == 48
    assert {i.version for i in items} == {1}
    assert set(items[0].payload) >= {
        "sale_id",
        "sold_at",
        "gross_amount_cents",
        "nsu",
        "authorization_code",
        "terminal_id",
    }


async def test_a_return_whose_webhook_never_came_is_fetched_by_a_later_run(client, runtime, boavista, worker) -> None:
    await boavista.enable()
    planted = await post_erp_days(boavista)
    await boavista.run(utcnow(), worker)
    [remittance_id] = await remittance_ids(runtime, boavista.tenant.tenant_id)
    await boavista.relay.wait_for(remittance_id)  # Boavista returned it; the webhook never reaches Ponte

    # Inside the grace period a run leaves the remittance alone.
    soon = await task(runtime, await boavista.run(utcnow() + timedelta(minutes=5), worker))
    assert "returns_polled" not in soon.counters
    assert {s.status for s in (await boavista.sales()).values()} == {"sent"}

    later = await task(runtime, await boavista.run(utcnow() + timedelta(hours=2), worker))
    assert later.status == "succeeded", later.error
    assert later.counters["returns_polled"] == 1
    for sale_id, sale in (await boavista.sales()).items():
        expected = ("divergent", planted[sale_id]) if sale_id in planted else ("reconciled", None)
        assert (sale.status, sale.reason) == expected, sale_id
    headers = boavista.tenant.headers
    r = (await client.get(f"/v1/reconciliation/remittances/{remittance_id}", headers=headers)).json()
    assert (r["status"], r["matched_count"], r["divergent_count"]) == ("returned", 48 - len(planted), len(planted))

    # The webhook turning up after all changes nothing: the remittance was returned once.
    [answer] = await boavista.deliver_returns(remittance_id, worker)
    assert answer.status_code == 202
    r = (await client.get(f"/v1/reconciliation/remittances/{remittance_id}", headers=headers)).json()
    assert r["duplicate_returns"] == 1
    again = await task(runtime, await boavista.run(utcnow() + timedelta(hours=3), worker))
    assert "returns_polled" not in again.counters


async def test_a_remittance_boavista_lost_is_sent_again(client, runtime, boavista, worker) -> None:
    await boavista.enable()
    await post_erp_days(boavista)
    await boavista.run(utcnow(), worker)
    [lost] = await remittance_ids(runtime, boavista.tenant.tenant_id)
    (await boavista.admin.delete(f"/boavista/_remittances/{lost}")).raise_for_status()

    done = await task(runtime, await boavista.run(utcnow() + timedelta(hours=2), worker))
    assert done.status == "succeeded", done.error
    assert (done.counters["remittances_lost"], done.counters["sales_sent"]) == (1, 48)
    first, second = await remittance_ids(runtime, boavista.tenant.tenant_id)
    headers = boavista.tenant.headers
    lost_view = (await client.get(f"/v1/reconciliation/remittances/{first}", headers=headers)).json()
    assert lost_view["status"] == "failed" and "remittance_not_found" in lost_view["error"]
    sales = await boavista.sales()
    assert {s.remittance_id for s in sales.values()} == {second}
    async with runtime.db.sessionmaker() as session:
        kinds = Counter(await session.scalars(select(CardSaleEvent.kind)))
    assert (kinds["send_failed"], kinds["sent"]) == (48, 96)  # every sale went back in line, then out again


async def test_a_sale_boavista_did_not_find_is_sent_again_when_its_record_arrives(
    client, runtime, boavista, worker
) -> None:
    # The acquirers report not_found sales two days late: nothing of them when the sales go out.
    late = {"today": (TODAY - timedelta(days=1)).isoformat(), "not_found_reported_after_days": 2}
    (await boavista.admin.put("/boavista/_config", json=late)).raise_for_status()
    await boavista.enable()
    planted = await post_erp_days(boavista)
    missing = {sid for sid, reason in planted.items() if reason == "not_found"}
    assert missing
    await boavista.run(NOON, worker)
    [first] = await remittance_ids(runtime, boavista.tenant.tenant_id)
    await boavista.deliver_returns(first, worker)
    assert {(s.status, s.reason) for sid, s in (await boavista.sales()).items() if sid in missing} == {
        ("divergent", "not_found")
    }

    # Two days on, the acquirers have reported them: the next run finds the records, Ponte's
    # matcher pairs them on the exact key, and the sales go out again by themselves.
    (
        await boavista.admin.put("/boavista/_config", json={"today": (TODAY + timedelta(days=1)).isoformat()})
    ).raise_for_status()
    done = await task(runtime, await boavista.run(NOON + timedelta(hours=1), worker))
    assert done.status == "succeeded", done.error
    assert done.counters["sales_requeued"] == done.counters["sales_sent"] == len(missing)
    second = (await remittance_ids(runtime, boavista.tenant.tenant_id))[-1]
    await boavista.deliver_returns(second, worker)
    sales = await boavista.sales()
    assert all(sales[sid].status == "reconciled" and sales[sid].version == 1 for sid in missing)
    history = (await client.get(f"/v1/reconciliation/sales/{min(missing)}", headers=boavista.tenant.headers)).json()
    assert [(h["kind"], h["status"]) for h in history["history"]] == [
        ("received", "pending"),
        ("sent", "sent"),
        ("returned", "divergent"),
        ("requeued", "pending"),
        ("sent", "sent"),
        ("returned", "reconciled"),
    ]

    # Once per version: a second not_found for the same sale waits for a person; and never
    # after the sale's window.
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(CardSale)
            .where(CardSale.tenant_id == boavista.tenant.tenant_id, CardSale.sale_id.in_(missing))
            .values(status="divergent", reason="not_found")
        )
    assert await flows.requeue_found(runtime, boavista.tenant.tenant_id, NOON + timedelta(hours=2)) == 0
    async with runtime.db.unit_of_work() as session:
        ours = [s.id for s in sales.values()]
        await session.execute(
            delete(CardSaleEvent).where(CardSaleEvent.kind == "requeued", CardSaleEvent.sale_pk.in_(ours))
        )
    after_window = at_local(TODAY + timedelta(days=5))
    assert await flows.requeue_found(runtime, boavista.tenant.tenant_id, after_window) == 0
    assert await flows.requeue_found(runtime, boavista.tenant.tenant_id, NOON + timedelta(hours=2)) == len(missing)
