"""The daily (and on-demand) reconciliation run, step by step, and the daily scheduler.

A run fetches the acquirer sales of the last three local days, re-runs Ponte's matcher on
them, puts back in line the sales Boavista could not find whose acquirer record has arrived
since, asks Boavista for returns whose webhook never came, expires the sales whose window
ended, and remits the pending ones. Every step is idempotent, so a run that crashes halfway
can simply run again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import msgspec
import structlog
from sqlalchemy import exists, select, update

from gateway.db.base import utcnow
from gateway.events import emitters
from gateway.partners.errors import PermanentPartnerError
from gateway.reconciliation import acquirer, matcher, remittances
from gateway.reconciliation.establishment import client_for
from gateway.reconciliation.models import (
    CardSale,
    CardSaleEvent,
    EstablishmentSetting,
    Remittance,
    RemittanceStatus,
    SaleMatch,
    SaleStatus,
)
from gateway.reconciliation.windows import fetch_days, local_day
from gateway.runtime import Runtime
from gateway.tasks import service as tasks_service
from gateway.tasks.runner import TaskContext, TaskFailed
from gateway.webhooks.events import RemittanceReturned

log = structlog.get_logger("ponte.reconciliation")

RUN_KIND = "reconciliation.run"
UNRECONCILED = (SaleStatus.pending, SaleStatus.sent, SaleStatus.divergent)


async def load_setting(runtime: Runtime, tenant_id: uuid.UUID) -> EstablishmentSetting:
    async with runtime.db.sessionmaker() as session:
        setting = await session.get(EstablishmentSetting, tenant_id)
    if setting is None or not setting.enabled or not setting.establishment_code:
        raise TaskFailed("the Boavista integration is not enabled for this tenant", code="not_enabled")
    return setting


async def fetch(ctx: TaskContext, setting: EstablishmentSetting, now: datetime) -> None:
    """Acquirer sales of today and the three days before; overlapping runs upsert the same rows."""
    day_from, day_to = fetch_days(now, setting.timezone)
    code = str(setting.establishment_code)
    async for page in client_for(ctx.runtime, setting).iter_sales(code, day_from, day_to):
        async with ctx.runtime.db.unit_of_work() as session:
            counts = await acquirer.upsert_page(session, ctx.tenant_id, code, setting.timezone, page)
        ctx.count("acquirer_created", counts.created)
        ctx.count("acquirer_updated", counts.updated)
        ctx.count("acquirer_unchanged", counts.unchanged)


async def match(ctx: TaskContext, setting: EstablishmentSetting, now: datetime) -> None:
    day_from, day_to = fetch_days(now, setting.timezone)
    report = await matcher.match(ctx.runtime.db, ctx.tenant_id, str(setting.establishment_code), day_from, day_to)
    ctx.count("matched_tier1", report.tier1)
    ctx.count("matched_tier2", report.tier2)
    ctx.count("match_suggestions", report.suggestions)


async def requeue_found(runtime: Runtime, tenant_id: uuid.UUID, now: datetime) -> int:
    """Acquirers report some sales late: Boavista answered ``not_found`` for a sale whose
    record has arrived since, and Ponte's matcher now pairs the two on the acquirer id or the
    exact key (tiers 1 and 2). Such a sale goes back in line while its window is open, once
    per version (a second not_found for it then waits for a person). Returns sales requeued."""
    surely_paired = exists().where(SaleMatch.sale_pk == CardSale.id, SaleMatch.rule.in_(matcher.SURE_RULES))
    requeued_before = exists().where(
        CardSaleEvent.sale_pk == CardSale.id,
        CardSaleEvent.kind == "requeued",
        CardSaleEvent.version == CardSale.version,
    )
    async with runtime.db.unit_of_work() as session:
        rows = (
            await session.execute(
                update(CardSale)
                .where(
                    CardSale.tenant_id == tenant_id,
                    CardSale.status == SaleStatus.divergent,
                    CardSale.reason == "not_found",
                    CardSale.window_ends_at > now,
                    surely_paired,
                    ~requeued_before,
                )
                .values(status=SaleStatus.pending, reason=None, reason_detail=None, updated_at=now)
                .returning(CardSale.id, CardSale.version)
            )
        ).all()
        session.add_all(
            CardSaleEvent(
                sale_pk=r.id,
                kind="requeued",
                status=SaleStatus.pending,
                version=r.version,
                reason="not_found",
                at=now,
                detail={"why": "the acquirer record arrived after Boavista's return"},
            )
            for r in rows
        )
    return len(rows)


async def collect_overdue_returns(ctx: TaskContext, setting: EstablishmentSetting, now: datetime) -> None:
    """Ask Boavista about remittances sent more than the grace period ago whose return webhook
    never arrived. A returned one is applied exactly as the webhook would be (once per
    remittance, so a webhook arriving later changes nothing); one Boavista no longer knows goes
    back in line and its sales are sent again by this run."""
    cutoff = now - timedelta(seconds=ctx.runtime.settings.boavista_return_grace_seconds)
    async with ctx.runtime.db.sessionmaker() as session:
        stmt = select(Remittance).where(
            Remittance.tenant_id == ctx.tenant_id,
            Remittance.status == RemittanceStatus.sent,
            Remittance.sent_at <= cutoff,
        )
        overdue = list(await session.scalars(stmt.order_by(Remittance.sent_at)))
    code = str(setting.establishment_code)
    client = client_for(ctx.runtime, setting)
    for remittance in overdue:
        try:
            answer = await client.get_remittance(code, remittance.remittance_id)
        except PermanentPartnerError as exc:
            if exc.code != "remittance_not_found":
                raise
            async with ctx.runtime.db.unit_of_work() as session:
                await remittances.mark_failed(session, remittance.id, "remittance_not_found: Boavista lost it")
            ctx.count("remittances_lost")
            continue
        if answer.get("status") != "returned":
            continue  # still being reconciled: the webhook or the next run will bring it
        try:
            data = msgspec.convert(
                {**answer, "establishment_code": code, "returned_at": answer.get("returned_at") or now.isoformat()},
                RemittanceReturned,
                strict=False,
            )
        except msgspec.ValidationError as exc:  # left as sent: the next run asks again
            log.warning("unreadable polled return", remittance_id=remittance.remittance_id, error=str(exc))
            ctx.count("returns_unreadable")
            continue
        async with ctx.runtime.db.unit_of_work() as session:
            await remittances.apply_return(session, ctx.tenant_id, data)
        ctx.count("returns_polled")


EXPIRED_COLUMNS = (
    CardSale.id,
    CardSale.version,
    CardSale.reason,
    CardSale.sale_id,
    CardSale.gross_amount_cents,
    CardSale.currency,
    CardSale.sold_at,
)


async def expire(runtime: Runtime, tenant_id: uuid.UUID, now: datetime) -> int:
    """Unreconciled sales whose window has ended become ``expired``: a person must look."""
    async with runtime.db.unit_of_work() as session:
        rows = (
            await session.execute(
                update(CardSale)
                .where(
                    CardSale.tenant_id == tenant_id, CardSale.status.in_(UNRECONCILED), CardSale.window_ends_at <= now
                )
                .values(status=SaleStatus.expired, updated_at=now)
                .returning(*EXPIRED_COLUMNS)
            )
        ).all()
        for r in rows:
            await emitters.sale_expired(session, tenant_id, r)
        session.add_all(
            CardSaleEvent(
                sale_pk=r.id, kind="expired", status=SaleStatus.expired, version=r.version, reason=r.reason, at=now
            )
            for r in rows
        )
    return len(rows)


async def remit(ctx: TaskContext, setting: EstablishmentSetting, now: datetime) -> None:
    """Send what a previous attempt prepared, then prepare and send until nothing is pending."""
    code = str(setting.establishment_code)
    client = client_for(ctx.runtime, setting)
    async with ctx.runtime.db.sessionmaker() as session:
        queue = await remittances.prepared(session, ctx.tenant_id, ctx.task_id)
    while True:
        if not queue:
            async with ctx.runtime.db.unit_of_work() as session:
                fresh = await remittances.prepare_next(session, ctx.tenant_id, code, ctx.task_id, setting.timezone, now)
            if fresh is None:
                return
            queue = [fresh]
        remittance = queue.pop(0)
        async with ctx.runtime.db.sessionmaker() as session:
            items = await remittances.items_of(session, remittance)
        try:
            protocol = await client.send_remittance(code, remittance.remittance_id, items)
        except PermanentPartnerError as exc:
            async with ctx.runtime.db.unit_of_work() as session:
                await remittances.mark_failed(session, remittance.id, f"{exc.code}: {exc}")
            raise
        async with ctx.runtime.db.unit_of_work() as session:
            await remittances.mark_sent(session, remittance.id, protocol)
        ctx.count("remittances_sent")
        ctx.count("sales_sent", len(items))


async def run(ctx: TaskContext) -> None:
    setting = await load_setting(ctx.runtime, ctx.tenant_id)
    now = datetime.fromisoformat(ctx.params["now"]) if ctx.params.get("now") else utcnow()
    await fetch(ctx, setting, now)
    await match(ctx, setting, now)
    ctx.count("sales_requeued", await requeue_found(ctx.runtime, ctx.tenant_id, now))
    await collect_overdue_returns(ctx, setting, now)
    ctx.count("sales_expired", await expire(ctx.runtime, ctx.tenant_id, now))
    await remit(ctx, setting, now)


async def schedule_daily(runtime: Runtime, now: datetime) -> int:
    """One run per enabled tenant per local day (dedup key), so an hourly cron is safe and a
    worker that was down at the usual hour catches up on its next tick. Returns runs created."""
    created = 0
    async with runtime.db.unit_of_work(runtime.queue) as session:
        settings = await session.scalars(select(EstablishmentSetting).where(EstablishmentSetting.enabled.is_(True)))
        for setting in settings:
            day = local_day(now, setting.timezone)
            _, new = await tasks_service.create_task(
                session,
                tenant_id=setting.tenant_id,
                kind=RUN_KIND,
                trigger="scheduled",
                params={"now": now.isoformat(), "day": day.isoformat()},
                subject_id=str(setting.establishment_code),
                dedup_key=f"daily:{day.isoformat()}",
            )
            created += new
    return created
