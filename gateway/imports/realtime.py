"""Real-time pushes (``policy.upserted``, ``receipt.status_changed``) from the webhook inbox.

Each event becomes a ``real_time`` import task on the insurer's connection (keyed on the
event, so a redelivered event makes no second task): the push shows in the connection's
history with its counters, and it is applied through the same upsert as any import, so the
stale-snapshot guard holds between pushes and scheduled imports too.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from sqlalchemy import select

from gateway.imports.connections import find_connection, open_client
from gateway.imports.models import ImportResult, InsurerConnection, PolicyReceipt
from gateway.imports.records import RECEIPT_FIELDS, content_hash, parse_as_of
from gateway.imports.service import create_import
from gateway.imports.upsert import Tally, apply_receipts, apply_records, lock_portfolio
from gateway.tasks.runner import TaskContext, TaskFailed
from gateway.webhooks.registry import InboundEvent, event_handler


async def enqueue_push(ctx: TaskContext, event: InboundEvent) -> None:
    data = event.data
    source_insurer = event.source.removeprefix("insurer:")
    if data.insurer != source_insurer:
        # An endpoint registered for one insurer may not write another insurer's policies.
        raise TaskFailed(f"event from {event.source} about {data.insurer}", code="insurer_mismatch")
    params = {
        "mode": "record",
        "event_type": event.type,
        "event_id": str(event.id),
        "record": msgspec.to_builtins(data),
    }
    async with ctx.runtime.db.unit_of_work(ctx.runtime.queue) as session:
        connection = await find_connection(session, event.tenant_id, data.insurer)
        if connection is None:
            raise TaskFailed(
                f"no connection to {data.insurer}; create one, then replay the event", code="no_connection"
            )
        params["policy_number"] = data.policy_number
        await create_import(
            session,
            connection,
            trigger="real_time",
            params=params,
            dedup_key=f"{event.id}:apply",
            parent_id=ctx.task_id,
        )


@event_handler("policy.upserted")
async def on_policy_upserted(ctx: TaskContext, event: InboundEvent) -> None:
    await enqueue_push(ctx, event)


@event_handler("receipt.status_changed")
async def on_receipt_status_changed(ctx: TaskContext, event: InboundEvent) -> None:
    await enqueue_push(ctx, event)


async def apply_pushed(ctx: TaskContext, connection: InsurerConnection) -> None:
    """Apply the record carried by a ``real_time`` task (see ``gateway.imports.jobs``)."""
    pushed: dict[str, Any] = ctx.params["record"]
    tally = None
    if ctx.params["event_type"] == "receipt.status_changed":
        async with ctx.runtime.db.unit_of_work() as session:
            tally = await apply_receipt_change(session, ctx, connection.insurer, pushed)
        if tally is None:
            # A receipt Ponte has never seen: read its policy whole, receipts included.
            async with open_client(ctx.runtime, connection) as client:
                pushed = await client.get_policy(pushed["policy_number"])
    if tally is None:
        async with ctx.runtime.db.unit_of_work() as session:
            tally = await apply_records(
                session, [pushed], tenant_id=ctx.tenant_id, insurer=connection.insurer, task_id=ctx.task_id,
                connection_id=connection.id,
            )  # fmt: skip
    _count(ctx, tally)


async def apply_receipt_change(session: Any, ctx: TaskContext, insurer: str, pushed: dict[str, Any]) -> Tally | None:
    """The stored receipt with the pushed status, through the receipt upsert; ``None`` if the
    receipt is unknown."""
    await lock_portfolio(session, ctx.tenant_id, insurer)
    stmt = select(PolicyReceipt).where(
        PolicyReceipt.tenant_id == ctx.tenant_id, PolicyReceipt.insurer == insurer,
        PolicyReceipt.receipt_number == pushed["receipt_number"],
    )  # fmt: skip
    current = (await session.scalars(stmt)).one_or_none()
    if current is None:
        return None
    row = {c: getattr(current, c) for c in (*RECEIPT_FIELDS, "tenant_id", "insurer", "receipt_number")}
    row["status"] = pushed["status"]
    row["status_changed_on"] = date.fromisoformat(str(pushed["changed_at"])[:10])  # a date or a timestamp
    row["as_of"] = parse_as_of(pushed["as_of"])
    row["content_hash"] = content_hash(row, RECEIPT_FIELDS)
    tally = await apply_receipts(session, ctx.tenant_id, [row], task_id=ctx.task_id)
    [outcome] = [k.removeprefix("receipts_") for k in tally.counters]
    session.add(
        ImportResult(
            task_id=ctx.task_id, tenant_id=ctx.tenant_id, record_type="receipt", policy_number=current.policy_number,
            receipt_number=current.receipt_number, outcome=outcome, as_of=row["as_of"],
        )
    )  # fmt: skip
    return tally


def _count(ctx: TaskContext, tally: Tally) -> None:
    for name, n in tally.counters.items():
        ctx.count(name, n)
