"""Where each capability's state changes become outbound events.

Every function here runs inside the transaction of the change it reports (that is the outbox
guarantee), and is called from one line at its site: a task-finish hook for imports, sync
runs and reconciliation runs; the status write of a document delivery, of an inbound webhook
event, of an expired sale; the applied Boavista return. Payloads hold ids, counters and API
paths (relative to the API's base URL), never secrets or document contents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.events import catalogue as c
from gateway.events.outbox import emit
from gateway.tasks.models import Task, TaskStatus
from gateway.tasks.registry import on_task_finished
from gateway.tasks.runner import TaskContext, TaskOutcome

Db = AsyncSession | AsyncConnection

IMPORT_EVENTS = {
    TaskStatus.succeeded: "import.succeeded",
    TaskStatus.partially_succeeded: "import.partially_succeeded",
    TaskStatus.failed: "import.failed",
}


@on_task_finished("import.run")
async def import_finished(conn: AsyncConnection, ctx: TaskContext, outcome: TaskOutcome) -> None:
    event_type = IMPORT_EVENTS.get(outcome.status)
    if event_type is None:  # cancelled: the tenant asked for it, nothing to tell
        return
    period = ctx.params.get("period")
    connection_id = ctx.params.get("connection_id")
    data = c.ImportOutcome(
        task_id=ctx.task_id,
        connection_id=uuid.UUID(connection_id) if connection_id else None,
        insurer=ctx.params.get("insurer"),
        trigger=ctx.trigger,
        period=c.ImportPeriod(date.fromisoformat(period[0]), date.fromisoformat(period[1])) if period else None,
        counters=dict(ctx.counters),
        error_code=outcome.error_code,
        error=outcome.error,
        results_url=f"/v1/imports/{ctx.task_id}/results",
    )
    await emit(conn, ctx.tenant_id, event_type, data)


@on_task_finished("portal.sync")
async def sync_run_finished(conn: AsyncConnection, ctx: TaskContext, outcome: TaskOutcome) -> None:
    if outcome.status != TaskStatus.failed:
        return
    data = c.SyncRunFailed(
        run_id=ctx.task_id,
        sync=str(ctx.params.get("sync") or ctx.subject_id),
        trigger=ctx.trigger,
        counters=dict(ctx.counters),
        error_code=outcome.error_code,
        error=outcome.error,
        run_url=f"/v1/portal/runs/{ctx.task_id}",
    )
    await emit(conn, ctx.tenant_id, "sync.run.failed", data)


async def sync_stale(
    db: Db, tenant_id: uuid.UUID, sync: str, frequency: str, since: datetime | None, now: datetime
) -> None:
    """Called once per schedule tick: when the last successful run is older than the schedule
    allows, the sync missed its expected freshness."""
    from gateway.portal.manager import OK_STATUSES, SYNC_TASK, freshness

    last = (
        await db.execute(
            select(func.max(Task.finished_at)).where(
                Task.tenant_id == tenant_id,
                Task.kind == SYNC_TASK,
                Task.subject_id == sync,
                Task.status.in_(OK_STATUSES),
            )
        )
    ).scalar()
    state = freshness(frequency, last, since, now)
    if state in ("late", "error"):
        data = c.SyncStale(
            sync=sync,
            frequency=frequency,
            last_success_at=last,
            freshness="late" if state == "late" else "error",
            sync_url=f"/v1/portal/syncs/{sync}",
        )
        await emit(db, tenant_id, "sync.stale", data)


@on_task_finished("reconciliation.run")
async def reconciliation_run_finished(conn: AsyncConnection, ctx: TaskContext, outcome: TaskOutcome) -> None:
    if outcome.status not in (TaskStatus.succeeded, TaskStatus.partially_succeeded):
        return
    day = ctx.params.get("day")
    data = c.ReconciliationDailySummary(
        run_id=ctx.task_id,
        day=date.fromisoformat(day) if day else None,
        establishment_code=ctx.subject_id,
        counters=dict(ctx.counters),
        summary_url="/v1/reconciliation/summary" + (f"?day={day}" if day else ""),
    )
    await emit(conn, ctx.tenant_id, "reconciliation.daily_summary", data)


def document_deliveries(rows: Iterable[Any]) -> tuple[list[tuple[uuid.UUID, str, msgspec.Struct]], list[uuid.UUID]]:
    """One event per delivery being written ``delivered`` or ``failed``, and the id of each one's
    delivery.

    ``rows``: the delivery rows as they are written (``id``, ``tenant_id``, ``client_id``,
    ``template``, ``file_name``, ``name_used``, ``folder_path``, ``size``, ``status``,
    ``error_code``, ``error``). The delivery's record statement writes these events with the
    rows (``outbox.emit_many_after``), so only rows it did change get theirs.
    """
    events: list[tuple[uuid.UUID, str, msgspec.Struct]] = []
    subjects: list[uuid.UUID] = []
    for row in rows:
        if row.status == "delivered":
            delivered = c.DocumentDelivered(
                delivery_id=row.id,
                client_id=row.client_id,
                template=row.template,
                file_name=row.file_name,
                name_used=row.name_used,
                folder_path=list(row.folder_path) if row.folder_path is not None else None,
                size=row.size,
                delivery_url=f"/v1/document-deliveries/{row.id}",
            )
            events.append((row.tenant_id, "document.delivered", delivered))
            subjects.append(row.id)
        elif row.status == "failed":
            failed = c.DocumentDeliveryFailed(
                delivery_id=row.id,
                client_id=row.client_id,
                template=row.template,
                file_name=row.file_name,
                error_code=row.error_code,
                error=row.error,
                retry_url=f"/v1/document-deliveries/{row.id}/retry",
            )
            events.append((row.tenant_id, "document.delivery_failed", failed))
            subjects.append(row.id)
    return events, subjects


async def inbound_event_failed(db: Db, event: Any, error: str | None) -> None:
    data = c.InboundEventFailed(
        event_id=event.id,
        endpoint_id=event.endpoint_id,
        source=event.source,
        type=event.event_type,
        webhook_id=event.webhook_id,
        error=error,
        replay_url=f"/v1/webhook-events/{event.id}/replay",
    )
    await emit(db, event.tenant_id, "inbound_event.failed", data)


async def sale_expired(db: Db, tenant_id: uuid.UUID, sale: Any) -> None:
    data = c.SaleExpired(
        sale_id=sale.sale_id,
        reason=sale.reason,
        gross_amount_cents=sale.gross_amount_cents,
        currency=sale.currency,
        sold_at=sale.sold_at,
    )
    await emit(db, tenant_id, "reconciliation.sale.expired", data)


async def remittance_returned(db: Db, tenant_id: uuid.UUID, remittance: Any, divergent: list[Any]) -> None:
    """The applied return, then one ``divergence.opened`` per sale it made divergent."""
    summary = c.RemittanceReturnedSummary(
        remittance_id=remittance.remittance_id,
        establishment_code=remittance.establishment_code,
        matched=remittance.matched_count,
        divergent=remittance.divergent_count,
        stale=remittance.stale_count,
        remittance_url="/v1/reconciliation/remittances",
    )
    await emit(db, tenant_id, "reconciliation.remittance.returned", summary)
    for sale in divergent:
        data = c.DivergenceOpened(
            sale_id=sale.sale_id,
            reason=sale.reason,
            gross_amount_cents=sale.gross_amount_cents,
            currency=sale.currency,
            sold_at=sale.sold_at,
            divergences_url="/v1/reconciliation/divergences",
        )
        await emit(db, tenant_id, "reconciliation.divergence.opened", data)
