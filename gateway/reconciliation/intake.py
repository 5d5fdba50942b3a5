"""ERP card sales in: batches validated row by row, idempotent on sale id; corrections with history."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.errors import Conflict, FieldError, NotFound, Unprocessable, json_pointer
from gateway.reconciliation.establishment import tenant_timezone
from gateway.reconciliation.models import CardSale, CardSaleEvent, SaleMatch, SaleStatus
from gateway.reconciliation.schemas import (
    AcceptedSale,
    CardSaleBatchResult,
    CardSaleCorrection,
    CardSaleIn,
    RejectedSale,
)
from gateway.reconciliation.windows import local_day, window_end

FIELDS = tuple(CardSaleIn.__struct_fields__)
_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`|unknown field `(?P<unknown>[^`]+)`")
FUTURE_TOLERANCE = timedelta(hours=1)


def _row_error(index: int, exc: msgspec.ValidationError) -> FieldError:
    """msgspec's message → a JSON pointer into the batch (``/items/3/installments``)."""
    text = str(exc)
    match = _AT_PATH.match(text)
    path = match.group("path") if match else None
    suffix = json_pointer("$" + path) if path else ""
    named = _MISSING.search(text)
    if not suffix and named:
        suffix = "/" + (named.group("field") or named.group("unknown"))
    detail = match.group("msg") if match else text
    return FieldError(pointer=f"/items/{index}{suffix}", detail=detail)


def _rules(index: int, sale: CardSaleIn, now: datetime) -> list[FieldError]:
    """Business rules msgspec cannot express."""
    errors = []
    if sale.payment_type != "credit" and sale.installments != 1:
        errors.append(
            FieldError(pointer=f"/items/{index}/installments", detail=f"{sale.payment_type} sales have 1 installment")
        )
    if sale.sold_at > now + FUTURE_TOLERANCE:
        errors.append(FieldError(pointer=f"/items/{index}/sold_at", detail="sold_at is in the future"))
    return errors


def _values(sale: CardSaleIn) -> dict[str, Any]:
    return {name: getattr(sale, name) for name in FIELDS}


def _same(row: CardSale, sale: CardSaleIn) -> bool:
    return all(getattr(row, name) == value for name, value in _values(sale).items())


async def receive_batch(session: AsyncSession, tenant_id: uuid.UUID, rows: list[dict[str, Any]]) -> CardSaleBatchResult:
    """Accept the valid rows, reject each invalid one with its own reasons; never a silent drop.

    A sale id already received with the same values is ``unchanged``; with other values it is
    rejected (corrections go through PATCH, so they keep their history).
    """
    now = utcnow()
    timezone = await tenant_timezone(session, tenant_id)
    rejected: list[RejectedSale] = []
    valid: dict[str, tuple[int, CardSaleIn]] = {}
    for index, row in enumerate(rows):
        raw_id = row.get("sale_id") if isinstance(row, dict) else None
        sale_id = raw_id if isinstance(raw_id, str) else None
        try:
            sale = msgspec.convert(row, CardSaleIn)
        except msgspec.ValidationError as exc:
            rejected.append(RejectedSale(index=index, sale_id=sale_id, errors=[_row_error(index, exc)]))
            continue
        errors = _rules(index, sale, now)
        if sale.sale_id in valid:
            first = valid[sale.sale_id][0]
            errors.append(FieldError(pointer=f"/items/{index}/sale_id", detail=f"repeats /items/{first} in this batch"))
        if errors:
            rejected.append(RejectedSale(index=index, sale_id=sale.sale_id, errors=errors))
        else:
            valid[sale.sale_id] = (index, sale)

    created: dict[str, str] = {}
    if valid:
        values = []
        for _, sale in valid.values():
            day = local_day(sale.sold_at, timezone)
            ends = window_end(day, timezone)
            # A sale posted after its window can no longer reconcile by itself: a person must look.
            status = SaleStatus.pending if ends > now else SaleStatus.expired
            values.append(
                {**_values(sale), "tenant_id": tenant_id, "local_day": day, "window_ends_at": ends, "status": status}
            )
        stmt = insert(CardSale).values(values).on_conflict_do_nothing(index_elements=["tenant_id", "sale_id"])
        inserted = (await session.execute(stmt.returning(CardSale.id, CardSale.sale_id, CardSale.status))).all()
        created = {r.sale_id: r.status for r in inserted}
        session.add_all(
            CardSaleEvent(
                sale_pk=r.id,
                kind="received",
                status=r.status,
                version=1,
                at=now,
                reason="window_passed" if r.status == SaleStatus.expired else None,
            )
            for r in inserted
        )
    existing = {}
    if len(created) < len(valid):
        known = select(CardSale).where(
            CardSale.tenant_id == tenant_id, CardSale.sale_id.in_(set(valid) - created.keys())
        )
        existing = {s.sale_id: s for s in await session.scalars(known)}
    accepted = []
    for sale_id, (index, sale) in valid.items():
        if sale_id in created:
            accepted.append(AcceptedSale(index=index, sale_id=sale_id, outcome="created", status=created[sale_id]))  # type: ignore[arg-type]
        elif _same(existing[sale_id], sale):
            current = existing[sale_id].status
            accepted.append(AcceptedSale(index=index, sale_id=sale_id, outcome="unchanged", status=current))  # type: ignore[arg-type]
        else:
            detail = "already received with other values; correct it with PATCH /v1/reconciliation/sales/{sale_id}"
            rejected.append(
                RejectedSale(
                    index=index, sale_id=sale_id, errors=[FieldError(pointer=f"/items/{index}/sale_id", detail=detail)]
                )
            )
    accepted.sort(key=lambda a: a.index)
    rejected.sort(key=lambda r: r.index)
    await session.flush()
    return CardSaleBatchResult(accepted=accepted, rejected=rejected)


async def get_sale(session: AsyncSession, tenant_id: uuid.UUID, sale_id: str, *, lock: bool = False) -> CardSale:
    stmt = select(CardSale).where(CardSale.tenant_id == tenant_id, CardSale.sale_id == sale_id)
    sale = (await session.scalars(stmt.with_for_update() if lock else stmt)).one_or_none()
    if sale is None:
        raise NotFound(f"Card sale {sale_id} does not exist.")
    return sale


async def correct_sale(
    session: AsyncSession, tenant_id: uuid.UUID, sale_id: str, data: CardSaleCorrection, *, now: datetime | None = None
) -> CardSale:
    """Apply a person's correction: a new version, back in line with a fresh three-day window.

    A result still in flight for the previous version is ignored when it arrives (the
    remittance item keeps the version it was sent with).
    """
    now = now or utcnow()
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
    if not changes:
        raise Unprocessable("Nothing to correct.", errors=[FieldError(pointer="", detail="send at least one field")])
    sale = await get_sale(session, tenant_id, sale_id, lock=True)
    if sale.status == SaleStatus.reconciled:
        raise Conflict(f"Card sale {sale_id} is already reconciled.", extra={"sale_status": sale.status})
    diff = {k: [getattr(sale, k), v] for k, v in changes.items() if getattr(sale, k) != v}
    if not diff:
        return sale
    installments = changes.get("installments", sale.installments)
    if sale.payment_type != "credit" and installments != 1:
        raise Unprocessable(
            "Invalid correction.",
            errors=[FieldError(pointer="/installments", detail=f"{sale.payment_type} sales have 1 installment")],
        )
    timezone = await tenant_timezone(session, tenant_id)
    for name, (_, new) in diff.items():
        setattr(sale, name, new)
    sale.version += 1
    sale.status = SaleStatus.pending
    sale.reason = sale.reason_detail = None
    sale.window_ends_at = window_end(local_day(now, timezone), timezone)
    # Ponte's own pairing was computed on the old values; the next run recomputes it.
    await session.execute(delete(SaleMatch).where(SaleMatch.sale_pk == sale.id))
    session.add(
        CardSaleEvent(
            sale_pk=sale.id,
            kind="corrected",
            status=sale.status,
            version=sale.version,
            at=now,
            detail={"changes": diff},
        )
    )
    await session.flush()
    return sale
