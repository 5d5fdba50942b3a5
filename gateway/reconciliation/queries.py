"""Read side: sales with history and matches, the divergence queue, the daily summary, remittances."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import NotFound
from gateway.pagination import PageParams, paginate
from gateway.reconciliation import matcher, schemas
from gateway.reconciliation.models import (
    AcquirerSale,
    CardSale,
    CardSaleEvent,
    Remittance,
    SaleMatch,
    SaleStatus,
)

QUEUE_STATUSES = (SaleStatus.divergent, SaleStatus.expired)
SALE = "sale"


async def list_sales(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    statuses: tuple[str, ...] | None = None,
    brand: str | None = None,
    day: date | None = None,
    by_amount: bool = False,
) -> tuple[list[schemas.CardSale], str | None]:
    stmt = select(CardSale).where(CardSale.tenant_id == tenant_id)
    if statuses:
        stmt = stmt.where(CardSale.status.in_(statuses))
    if brand:
        stmt = stmt.where(CardSale.brand == brand)
    if day:
        stmt = stmt.where(CardSale.local_day == day)
    order = [CardSale.gross_amount_cents, CardSale.id] if by_amount else [CardSale.id]
    rows, next_cursor = await paginate(session, stmt, page, order_by=order)
    matches = await _matches(session, [r.id for r in rows])
    return [to_sale(r, matches.get(r.id, [])) for r in rows], next_cursor


async def divergence_queue(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    status: str | None = None,
    brand: str | None = None,
    day: date | None = None,
) -> tuple[list[schemas.CardSale], str | None]:
    """Divergent and expired sales, largest amount first, each with its reason and what Ponte's
    matcher paired or suggested (the acquirer's values to correct against)."""
    statuses = (status,) if status else QUEUE_STATUSES
    return await list_sales(session, tenant_id, page, statuses=statuses, brand=brand, day=day, by_amount=True)


async def sale_detail(session: AsyncSession, tenant_id: uuid.UUID, sale: CardSale) -> schemas.CardSale:
    events = await session.scalars(
        select(CardSaleEvent).where(CardSaleEvent.sale_pk == sale.id).order_by(CardSaleEvent.id)
    )
    history = [
        schemas.CardSaleEvent(
            at=e.at,
            kind=e.kind,
            status=e.status,
            version=e.version,
            remittance_id=e.remittance_id,
            reason=e.reason,
            detail=e.detail,
        )
        for e in events
    ]
    detail = to_sale(sale, (await _matches(session, [sale.id])).get(sale.id, []))
    detail.history = history
    return detail


async def _matches(session: AsyncSession, sale_pks: list[int]) -> dict[int, list[schemas.AcquirerMatch]]:
    if not sale_pks:
        return {}
    stmt = (
        select(SaleMatch, AcquirerSale)
        .join(AcquirerSale, AcquirerSale.id == SaleMatch.acquirer_pk)
        .where(SaleMatch.sale_pk.in_(sale_pks))
        .order_by(SaleMatch.sale_pk, SaleMatch.rule, AcquirerSale.acquirer_sale_id)
    )
    out: dict[int, list[schemas.AcquirerMatch]] = defaultdict(list)
    for m, a in (await session.execute(stmt)).tuples():
        tier, rule = matcher.RULES[m.rule]
        out[m.sale_pk].append(
            schemas.AcquirerMatch(
                tier=tier,
                rule=rule,
                differences=matcher.differences(m.differences),
                acquirer_sale_id=a.acquirer_sale_id,
                gross_amount_cents=a.gross_amount_cents,
                installments=a.installments,
                nsu=a.nsu,
                authorization_code=a.authorization_code,
                brand=a.brand,
            )
        )
    return out


def to_sale(s: CardSale, matches: list[schemas.AcquirerMatch]) -> schemas.CardSale:
    return schemas.CardSale(
        sale_id=s.sale_id,
        kind=s.kind,  # type: ignore[arg-type]
        sold_at=s.sold_at,
        local_day=s.local_day,
        gross_amount_cents=s.gross_amount_cents,
        currency=s.currency,
        installments=s.installments,
        brand=s.brand,
        payment_type=s.payment_type,
        nsu=s.nsu,
        authorization_code=s.authorization_code,
        terminal_id=s.terminal_id,
        status=s.status,  # type: ignore[arg-type]
        reason=s.reason,
        reason_detail=s.reason_detail,
        acquirer_sale_id=s.acquirer_sale_id,
        version=s.version,
        window_ends_at=s.window_ends_at,
        remittance_id=s.remittance_id,
        matches=matches,
    )


async def summary(session: AsyncSession, tenant_id: uuid.UUID, day: date) -> schemas.ReconciliationSummary:
    """Counts and amounts by status for the sales of one local day (every status listed), and
    the same apart for each other kind of receivable present that day."""
    amount = func.coalesce(func.sum(CardSale.gross_amount_cents), 0)
    scope = (CardSale.tenant_id == tenant_id, CardSale.local_day == day)
    totals = await session.execute(
        select(CardSale.kind, CardSale.status, func.count(), amount)
        .where(*scope)
        .group_by(CardSale.kind, CardSale.status)
    )
    by_status: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for kind, status, count, cents in totals:
        by_status[kind][status] = (int(count), int(cents))
    reasons = await session.execute(
        select(CardSale.kind, CardSale.reason, func.count(), amount)
        .where(*scope, CardSale.status.in_(QUEUE_STATUSES), CardSale.reason.is_not(None))
        .group_by(CardSale.kind, CardSale.reason)
        .order_by(CardSale.kind, CardSale.reason)
    )
    by_reason: dict[str, list[schemas.ReasonTotal]] = defaultdict(list)
    for kind, r, c, a in reasons:
        by_reason[kind].append(schemas.ReasonTotal(reason=str(r), count=int(c), amount_cents=int(a)))

    def statuses(kind: str) -> list[schemas.StatusTotal]:
        return [
            schemas.StatusTotal(status=status.value, count=count, amount_cents=cents)  # type: ignore[arg-type]
            for status in SaleStatus
            for count, cents in [by_status[kind].get(status, (0, 0))]
        ]

    others = sorted(k for k in by_status if k != SALE)
    return schemas.ReconciliationSummary(
        day=day,
        currency="BRL",
        by_status=statuses(SALE),
        divergent_by_reason=by_reason[SALE],
        receivables=[schemas.ReceivableSummary(k, statuses(k), by_reason[k]) for k in others],  # type: ignore[arg-type]
    )


async def list_remittances(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageParams
) -> tuple[list[schemas.Remittance], str | None]:
    stmt = select(Remittance).where(Remittance.tenant_id == tenant_id)
    rows, next_cursor = await paginate(session, stmt, page, order_by=[Remittance.created_at, Remittance.id])
    return [to_remittance(r) for r in rows], next_cursor


async def get_remittance(session: AsyncSession, tenant_id: uuid.UUID, remittance_id: str) -> schemas.Remittance:
    stmt = select(Remittance).where(Remittance.tenant_id == tenant_id, Remittance.remittance_id == remittance_id)
    remittance = (await session.scalars(stmt)).one_or_none()
    if remittance is None:
        raise NotFound(f"Remittance {remittance_id} does not exist.")
    return to_remittance(remittance)


def to_remittance(r: Remittance) -> schemas.Remittance:
    return schemas.Remittance(
        remittance_id=r.remittance_id,
        establishment_code=r.establishment_code,
        status=r.status,
        protocol=r.protocol,
        item_count=r.item_count,
        matched_count=r.matched_count,
        divergent_count=r.divergent_count,
        stale_count=r.stale_count,
        duplicate_returns=r.duplicate_returns,
        error=r.error,
        task_id=r.task_id,
        created_at=r.created_at,
        sent_at=r.sent_at,
        returned_at=r.returned_at,
    )
