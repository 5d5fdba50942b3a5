"""Processing stored events: decode, dispatch to the capability's handler, record the outcome."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import update

from gateway.db.base import utcnow
from gateway.tasks.registry import task_handler
from gateway.tasks.runner import TaskContext
from gateway.webhooks.events import EVENT_TYPES, Envelope
from gateway.webhooks.intake import PROCESS_KIND
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.registry import InboundEvent, handler_for


async def _mark(ctx: TaskContext, event_id: uuid.UUID, **values: object) -> None:
    async with ctx.runtime.db.unit_of_work() as session:
        await session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))


@task_handler(PROCESS_KIND)
async def process_event(ctx: TaskContext) -> None:
    event_id = uuid.UUID(ctx.params["event_id"])
    async with ctx.runtime.db.sessionmaker() as session:
        event = await session.get(WebhookEvent, event_id)
    if event is None or event.status in ("processed", "rejected"):
        return  # processed by an earlier run that died before finishing its task
    envelope = msgspec.json.decode(event.body, type=Envelope)
    data = msgspec.convert(envelope.data, EVENT_TYPES[envelope.type].schema)
    inbound = InboundEvent(
        id=event.id,
        tenant_id=event.tenant_id,
        endpoint_id=event.endpoint_id,
        source=event.source,
        type=envelope.type,
        webhook_id=event.webhook_id,
        received_at=event.received_at,
        data=data,
    )
    handler = handler_for(envelope.type)
    try:
        if handler is not None:
            await handler(ctx, inbound)
    except Exception as exc:
        # Keep the latest error on the event; on the last try the event is failed for good
        # (replayable), otherwise the runner retries with backoff.
        status = "failed" if ctx.last_attempt or not _retryable(exc) else "received"
        await _mark(ctx, event_id, status=status, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    await _mark(ctx, event_id, status="processed", processed_at=utcnow(), error=None)
    ctx.count("events_processed")


def _retryable(exc: Exception) -> bool:
    from gateway.partners.errors import PermanentPartnerError
    from gateway.tasks.runner import TaskFailed

    return not isinstance(exc, PermanentPartnerError | TaskFailed)
