"""Remittances: the unreconciled sales sent to Boavista, recorded with their items, and the
return applied per sale.

Sending is two steps so a retried task never sends twice under different ids: the remittance
and its items are committed first (``prepared``) under an id derived from the task, then sent;
a retry finds the prepared remittance and sends the same id with the same items, which
Boavista answers with the first receipt.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.events import emitters
from gateway.reconciliation.models import (
    CardSale,
    CardSaleEvent,
    Remittance,
    RemittanceItem,
    RemittanceStatus,
    SaleStatus,
)
from gateway.reconciliation.windows import local_day
from gateway.webhooks.events import RemittanceReturned

MAX_ITEMS = 1_000


def remittance_id_for(task_id: uuid.UUID, seq: int) -> str:
    return f"PT{task_id.hex[:20]}-{seq:04d}"


def payload(sale: CardSale) -> dict[str, Any]:
    """A sale in Boavista's ErpSale shape (what is stored is exactly what is sent)."""
    return {
        "sale_id": sale.sale_id,
        "sold_at": sale.sold_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gross_amount_cents": sale.gross_amount_cents,
        "currency": sale.currency,
        "installments": sale.installments,
        "brand": sale.brand,
        "payment_type": sale.payment_type,
        "nsu": sale.nsu,
        "authorization_code": sale.authorization_code,
        "terminal_id": sale.terminal_id,
    }


async def prepared(session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> list[Remittance]:
    """Remittances a previous attempt of this task recorded but may not have sent."""
    stmt = select(Remittance).where(
        Remittance.tenant_id == tenant_id, Remittance.task_id == task_id, Remittance.status == RemittanceStatus.prepared
    )
    return list(await session.scalars(stmt.order_by(Remittance.remittance_id)))


async def prepare_next(
    session: AsyncSession, tenant_id: uuid.UUID, code: str, task_id: uuid.UUID, timezone: str, now: datetime
) -> Remittance | None:
    """Record the next remittance of pending sales inside their window (sales of a finished
    local day only: today's acquirer data is still arriving). None when nothing is left."""
    today = local_day(now, timezone)
    stmt = (
        select(CardSale)
        .where(
            CardSale.tenant_id == tenant_id,
            CardSale.status == SaleStatus.pending,
            CardSale.window_ends_at > now,
            CardSale.local_day < today,
        )
        .order_by(CardSale.id)
        .limit(MAX_ITEMS)
        .with_for_update(skip_locked=True)
    )
    sales = list(await session.scalars(stmt))
    if not sales:
        return None
    seq = await session.scalar(select(func.count()).select_from(Remittance).where(Remittance.task_id == task_id)) or 0
    remittance = Remittance(
        tenant_id=tenant_id,
        remittance_id=remittance_id_for(task_id, seq + 1),
        task_id=task_id,
        establishment_code=code,
        status=RemittanceStatus.prepared,
        item_count=len(sales),
    )
    session.add(remittance)
    await session.flush()
    for sale in sales:
        session.add(
            RemittanceItem(
                remittance_pk=remittance.id,
                sale_pk=sale.id,
                sale_id=sale.sale_id,
                version=sale.version,
                payload=payload(sale),
            )
        )
        sale.status, sale.remittance_id = SaleStatus.sent, remittance.remittance_id
        session.add(
            CardSaleEvent(
                sale_pk=sale.id,
                kind="sent",
                status=sale.status,
                version=sale.version,
                remittance_id=remittance.remittance_id,
                at=now,
            )
        )
    await session.flush()
    return remittance


async def items_of(session: AsyncSession, remittance: Remittance) -> list[dict[str, Any]]:
    stmt = (
        select(RemittanceItem.payload)
        .where(RemittanceItem.remittance_pk == remittance.id)
        .order_by(RemittanceItem.sale_pk)
    )
    return list(await session.scalars(stmt))


async def mark_sent(session: AsyncSession, remittance_pk: uuid.UUID, protocol: str) -> None:
    await session.execute(
        update(Remittance)
        .where(Remittance.id == remittance_pk, Remittance.status == RemittanceStatus.prepared)
        .values(status=RemittanceStatus.sent, protocol=protocol, sent_at=utcnow(), updated_at=utcnow())
    )


async def mark_failed(session: AsyncSession, remittance_pk: uuid.UUID, error: str) -> int:
    """Boavista refused the remittance for good: its sales go back in line."""
    remittance = await session.get_one(Remittance, remittance_pk, with_for_update=True)
    remittance.status, remittance.error = RemittanceStatus.failed, error
    back = (
        await session.execute(
            update(CardSale)
            .where(
                CardSale.remittance_id == remittance.remittance_id,
                CardSale.tenant_id == remittance.tenant_id,
                CardSale.status == SaleStatus.sent,
            )
            .values(status=SaleStatus.pending, updated_at=utcnow())
            .returning(CardSale.id, CardSale.version)
        )
    ).all()
    session.add_all(
        CardSaleEvent(
            sale_pk=r.id,
            kind="send_failed",
            status=SaleStatus.pending,
            version=r.version,
            remittance_id=remittance.remittance_id,
            detail={"error": error},
        )
        for r in back
    )
    return len(back)


async def apply_return(session: AsyncSession, tenant_id: uuid.UUID, data: RemittanceReturned) -> dict[str, int]:
    """Apply Boavista's verdict per sale, once per remittance.

    A second return for the same remittance (a new message, or the same one replayed) changes
    nothing. A result for a sale corrected after it was sent is recorded on the item but not
    applied: the corrected version is already back in line.
    """
    stmt = select(Remittance).where(Remittance.tenant_id == tenant_id, Remittance.remittance_id == data.remittance_id)
    remittance = (await session.scalars(stmt.with_for_update())).one_or_none()
    if remittance is None or remittance.establishment_code != data.establishment_code:
        return {"unknown_remittance": 1}
    if remittance.returned_at is not None:
        remittance.duplicate_returns += 1
        return {"duplicate_returns": 1}
    items = {
        i.sale_id: i
        for i in await session.scalars(select(RemittanceItem).where(RemittanceItem.remittance_pk == remittance.id))
    }
    sales = {
        s.id: s
        for s in await session.scalars(
            select(CardSale).where(CardSale.id.in_([i.sale_pk for i in items.values()])).with_for_update()
        )
    }
    counts = {"matched": 0, "divergent": 0, "stale": 0, "unknown_items": 0}
    now = utcnow()
    for result in data.items:
        item = items.get(result.sale_id)
        if item is None:
            counts["unknown_items"] += 1
            continue
        item.result, item.reason, item.detail, item.acquirer_sale_id = (
            result.status,
            result.reason,
            result.detail,
            result.acquirer_sale_id,
        )
        sale = sales[item.sale_pk]
        current = sale.version == item.version and sale.remittance_id == remittance.remittance_id
        # A late "matched" still reconciles an expired sale; a late "divergent" leaves it expired.
        item.applied = current and (
            sale.status == SaleStatus.sent or (sale.status == SaleStatus.expired and result.status == "matched")
        )
        if not item.applied:
            counts["stale"] += 1
            continue
        counts[result.status] += 1
        sale.status = SaleStatus.reconciled if result.status == "matched" else SaleStatus.divergent
        sale.reason, sale.reason_detail = result.reason, result.detail
        if result.acquirer_sale_id:
            sale.acquirer_sale_id = result.acquirer_sale_id
        session.add(
            CardSaleEvent(
                sale_pk=sale.id,
                kind="returned",
                status=sale.status,
                version=sale.version,
                at=now,
                remittance_id=remittance.remittance_id,
                reason=result.reason,
                detail={"detail": result.detail, "acquirer_sale_id": result.acquirer_sale_id},
            )
        )
    remittance.status, remittance.returned_at = RemittanceStatus.returned, now
    remittance.protocol = remittance.protocol or data.protocol
    remittance.matched_count, remittance.divergent_count, remittance.stale_count = (
        counts["matched"],
        counts["divergent"],
        counts["stale"],
    )
    await session.flush()
    divergent = [sales[i.sale_pk] for i in items.values() if i.applied and i.result == "divergent"]
    await emitters.remittance_returned(session, tenant_id, remittance, divergent)
    return counts
