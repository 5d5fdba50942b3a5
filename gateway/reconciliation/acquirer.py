"""Acquirer sales fetched from Boavista, upserted on ``acquirer_sale_id`` (the only unique key:
NSU and authorization codes repeat, and the NSU changes when an acquirer reprocesses a sale)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import literal_column, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.reconciliation.models import CARD_FIELDS, AcquirerSale
from gateway.reconciliation.windows import local_day

UPDATABLE = (*CARD_FIELDS, "acquirer")


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _row(tenant_id: uuid.UUID, code: str, timezone: str, item: dict[str, Any], now: datetime) -> dict[str, Any]:
    sold_at = datetime.fromisoformat(item["sold_at"])
    return {
        "tenant_id": tenant_id,
        "establishment_code": code,
        "acquirer_sale_id": item["acquirer_sale_id"],
        "sold_at": sold_at,
        "local_day": local_day(sold_at, timezone),
        "gross_amount_cents": int(item["gross_amount_cents"]),
        "currency": item.get("currency") or "BRL",
        "installments": int(item["installments"]),
        "brand": item["brand"],
        "payment_type": item["payment_type"],
        "nsu": item["nsu"],
        "authorization_code": item["authorization_code"],
        "terminal_id": item["terminal_id"],
        "acquirer": item.get("acquirer") or "",
        "fetched_at": now,
    }


async def upsert_page(
    session: AsyncSession, tenant_id: uuid.UUID, code: str, timezone: str, items: list[dict[str, Any]]
) -> UpsertCounts:
    """One page in one statement; a record seen again with the same values is left untouched."""
    now = utcnow()
    rows = {item["acquirer_sale_id"]: _row(tenant_id, code, timezone, item, now) for item in items}
    if not rows:
        return UpsertCounts()
    stmt = insert(AcquirerSale).values(list(rows.values()))
    changed = tuple_(*(getattr(AcquirerSale, c) for c in UPDATABLE)).is_distinct_from(
        tuple_(*(getattr(stmt.excluded, c) for c in UPDATABLE))
    )
    upsert: Any = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "acquirer_sale_id"],
        set_={c: getattr(stmt.excluded, c) for c in (*UPDATABLE, "establishment_code", "fetched_at")},
        where=changed,
    ).returning(literal_column("xmax = 0").label("inserted"))
    result = [r.inserted for r in await session.execute(upsert)]
    created = sum(result)
    return UpsertCounts(created=created, updated=len(result) - created, unchanged=len(rows) - len(result))
