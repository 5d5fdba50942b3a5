"""Processing stored events: decode, dispatch to the capability's handler, record the outcome.

One ``webhook.process`` task carries the events of one intake batch (one tenant). Each event
keeps its own status and error: a re-run (retry, crash) skips the events already processed or
failed for good, so only the unfinished ones run again. Events of a batch are handled
concurrently; partners do not promise order either, and handlers are idempotent. The events
a batch processed are marked ``processed`` together, in one statement once their handlers
returned: a crash before it runs their (idempotent) handlers again, as a crash between a
handler's commit and its own mark always could.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ARRAY, Row, Uuid, any_, bindparam, select, text, update

from gateway.events import emitters
from gateway.partners.errors import PermanentPartnerError
from gateway.tasks.models import TaskStatus
from gateway.tasks.registry import task_handler
from gateway.tasks.runner import RetryTask, TaskContext, TaskFailed, TaskOutcome
from gateway.webhooks.events import EVENT_TYPES, RawEnvelope
from gateway.webhooks.intake import PROCESS_KIND
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.registry import InboundEvent, batch_handler_for, handler_for

CONCURRENCY = 8
# A stored event as processing reads it (``_PENDING``).
StoredEvent = Row[uuid.UUID, uuid.UUID, uuid.UUID, str, str, datetime, str, bytes]
_DONE = ("processed", "rejected", "failed")


async def _mark(ctx: TaskContext, event_id: uuid.UUID, **values: object) -> None:
    async with ctx.runtime.db.unit_of_work() as session:
        await session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))
        if values.get("status") == "failed":  # for good: the tenant hears of it with the status change
            event = await session.get(WebhookEvent, event_id)
            await emitters.inbound_event_failed(session, event, values.get("error"))  # type: ignore[arg-type]


def _retryable(exc: Exception) -> bool:
    return not isinstance(exc, PermanentPartnerError | TaskFailed)


def _inbound(event: StoredEvent) -> InboundEvent:
    # The intake validated the body: ``data`` is decoded once, straight into its schema.
    envelope = msgspec.json.decode(event.body, type=RawEnvelope)
    data = msgspec.json.decode(envelope.data, type=EVENT_TYPES[envelope.type].schema)
    return InboundEvent(
        id=event.id,
        tenant_id=event.tenant_id,
        endpoint_id=event.endpoint_id,
        source=event.source,
        type=envelope.type,
        webhook_id=event.webhook_id,
        received_at=event.received_at,
        data=data,
    )


async def _failed(ctx: TaskContext, event_id: uuid.UUID, exc: Exception) -> Exception:
    """Record a handler's error on its event; the batch decides retry or fail."""
    # The latest error stays on the event; on the last try (or a permanent error) the event is
    # failed for good and replayable, otherwise it waits for the batch's retry.
    status = "failed" if ctx.last_attempt or not _retryable(exc) else "received"
    await _mark(ctx, event_id, status=status, error=f"{type(exc).__name__}: {exc}"[:2000])
    return exc


async def _process(ctx: TaskContext, inbound: InboundEvent) -> Exception | None:
    handler = handler_for(inbound.type)
    try:
        if handler is not None:
            await handler(ctx, inbound)
    except Exception as exc:
        return await _failed(ctx, inbound.id, exc)
    return None


async def _process_together(ctx: TaskContext, events: list[InboundEvent]) -> list[Exception | None]:
    """Events of a type with a batch handler: one call for them all, each error on its event."""
    handler = batch_handler_for(events[0].type)
    assert handler is not None
    try:
        errors = await handler(ctx, events)
    except Exception as exc:
        errors = [exc] * len(events)
    return [None if exc is None else await _failed(ctx, e.id, exc) for e, exc in zip(events, errors, strict=True)]


_PROCESSED = text(
    "UPDATE webhook_events SET status = 'processed', processed_at = now(), error = NULL"
    " WHERE id = ANY(CAST(:ids AS uuid[]))"
)


async def _mark_processed(ctx: TaskContext, event_ids: list[uuid.UUID]) -> None:
    if event_ids:
        async with ctx.runtime.db.autocommit() as conn:
            await conn.execute(_PROCESSED, {"ids": event_ids})
        ctx.count("events_processed", len(event_ids))


# The columns processing reads, as rows: loading the batch as ORM entities (and decoding the
# stored headers, which processing never reads) was 2% of a worker's CPU in
# bench.document_delivery. Built once, over an array: one statement text whatever the batch.
_PENDING = select(
    WebhookEvent.id,
    WebhookEvent.tenant_id,
    WebhookEvent.endpoint_id,
    WebhookEvent.source,
    WebhookEvent.webhook_id,
    WebhookEvent.received_at,
    WebhookEvent.status,
    WebhookEvent.body,
).where(WebhookEvent.id == any_(bindparam("ids", type_=ARRAY(Uuid))))


@task_handler(PROCESS_KIND)
async def process_events(ctx: TaskContext) -> TaskOutcome | None:
    ids = [uuid.UUID(i) for i in ctx.params.get("event_ids") or [ctx.params["event_id"]]]
    async with ctx.runtime.db.autocommit() as conn:
        found = {e.id: e for e in await conn.execute(_PENDING, {"ids": ids})}
    # Redeliveries that lost the race at intake are not in the table; finished ones are skipped.
    pending = [found[i] for i in ids if i in found and found[i].status not in _DONE]
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(event: InboundEvent) -> Exception | None:
        async with limit:
            return await _process(ctx, event)

    together: dict[str, list[InboundEvent]] = {}  # by type, for a type with a batch handler
    alone: list[InboundEvent] = []
    for e in map(_inbound, pending):
        (together.setdefault(e.type, []) if batch_handler_for(e.type) else alone).append(e)
    batches, singles = await asyncio.gather(
        asyncio.gather(*(_process_together(ctx, events) for events in together.values())),
        asyncio.gather(*(one(e) for e in alone)),
    )
    ran = [e for events in together.values() for e in events] + alone
    outcome = dict(zip((e.id for e in ran), [*(x for b in batches for x in b), *singles], strict=True))
    results = [outcome[e.id] for e in pending]
    await _mark_processed(ctx, [event.id for event, error in zip(pending, results, strict=True) if error is None])
    errors: list[Any] = [e for e in results if e is not None]
    ctx.progress_done, ctx.progress_total = len(pending) - len(errors), len(pending)  # written with the outcome
    if not errors:
        return None
    await ctx.progress(force=True)  # a retry records no progress of its own
    retryable = [e for e in errors if _retryable(e)]
    if retryable and not ctx.last_attempt:
        raise RetryTask(f"{len(retryable)} of {len(pending)} events failed; first: {retryable[0]!r}"[:2000])
    status = TaskStatus.failed if len(errors) == len(pending) else TaskStatus.partially_succeeded
    return TaskOutcome(
        status=status, error_code="event_failed", error=f"{len(errors)} event(s) failed: {errors[0]!r}"[:2000]
    )
