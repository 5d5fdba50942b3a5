"""CSV exports of the divergence queue and the daily summary, streamed like import results.

The queue can hold a tenant's whole backlog, so it is read in partitions in its own session:
the response streams after the request's unit of work has ended. Check access (the
establishment exists) before handing the iterator to the response.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import date
from typing import Any

from sqlalchemy import select

from gateway.reconciliation import schemas
from gateway.reconciliation.models import CardSale
from gateway.reconciliation.queries import QUEUE_STATUSES
from gateway.runtime import Runtime

DIVERGENCE_COLUMNS = (
    "sale_id",
    "kind",
    "local_day",
    "sold_at",
    "gross_amount_cents",
    "currency",
    "installments",
    "brand",
    "payment_type",
    "nsu",
    "authorization_code",
    "terminal_id",
    "status",
    "reason",
    "reason_detail",
    "acquirer_sale_id",
    "version",
    "window_ends_at",
    "remittance_id",
)
SUMMARY_COLUMNS = ("day", "kind", "section", "key", "count", "amount_cents", "currency")


class _Rows:
    """A csv.writer over a buffer that hands back what was written since the last take()."""

    def __init__(self, header: Iterable[str]) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)
        self.writer.writerow(header)

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def _cell(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else ("" if value is None else value)


async def divergences_csv(
    runtime: Runtime,
    tenant_id: uuid.UUID,
    *,
    status: str | None = None,
    brand: str | None = None,
    day: date | None = None,
) -> AsyncIterator[str]:
    """The queue in the API's order (largest amount first), one row per sale."""
    stmt = select(CardSale).where(
        CardSale.tenant_id == tenant_id, CardSale.status.in_((status,) if status else QUEUE_STATUSES)
    )
    if brand:
        stmt = stmt.where(CardSale.brand == brand)
    if day:
        stmt = stmt.where(CardSale.local_day == day)
    stmt = stmt.order_by(CardSale.gross_amount_cents.desc(), CardSale.id.desc())
    rows = _Rows(DIVERGENCE_COLUMNS)
    async with runtime.db.sessionmaker() as session:
        result = await session.stream_scalars(stmt.execution_options(yield_per=2000))
        async for partition in result.partitions():
            for sale in partition:
                rows.writer.writerow([_cell(getattr(sale, c)) for c in DIVERGENCE_COLUMNS])
            yield rows.take()
    yield rows.take()


def summary_csv(summary: schemas.ReconciliationSummary) -> str:
    """The day's summary flattened: one row per kind (sales first, then each other kind of
    receivable) and status, and per kind and divergence reason."""
    rows = _Rows(SUMMARY_COLUMNS)
    day, currency = summary.day.isoformat(), summary.currency
    parts = [("sale", summary.by_status, summary.divergent_by_reason)]
    parts += [(r.kind, r.by_status, r.divergent_by_reason) for r in summary.receivables]
    for kind, by_status, by_reason in parts:
        for s in by_status:
            rows.writer.writerow([day, kind, "status", s.status, s.count, s.amount_cents, currency])
        for r in by_reason:
            rows.writer.writerow([day, kind, "divergence_reason", r.reason, r.count, r.amount_cents, currency])
    return rows.take()
