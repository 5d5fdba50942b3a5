"""The operator's view of sent events: messages with per-endpoint status, attempts, retry, recover.

Everything is tenant-scoped (another tenant's message or endpoint is a 404) and
cursor-paginated. Retry and recover only move deliveries back to ``pending`` and wake the
dispatchers; the attempt itself is made, signed and logged like any other.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

import msgspec
from sqlalchemy import CursorResult, Select, exists, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import Conflict, FieldError, NotFound, Unprocessable
from gateway.events import schemas
from gateway.events.models import Event, EventAttempt, EventDelivery, EventEndpoint
from gateway.events.outbox import WAKE
from gateway.pagination import PageParams, paginate


async def get_event(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> Event:
    event = await session.get(Event, event_id)
    if event is None or event.tenant_id != tenant_id:
        raise NotFound(f"Event {event_id} does not exist.")
    return event


async def list_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    event_type: str | None = None,
    status: str | None = None,
    endpoint_id: uuid.UUID | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    oldest_first: bool = False,
) -> tuple[list[Event], str | None]:
    """Events, newest first (or oldest first, to follow new ones with ``created_from``).
    ``status`` and ``endpoint_id`` keep events with a delivery in that status / to that endpoint."""
    stmt: Select[Any] = select(Event).where(Event.tenant_id == tenant_id)
    if event_type:
        stmt = stmt.where(Event.type == event_type)
    if created_from:
        stmt = stmt.where(Event.created_at >= created_from)
    if created_to:
        stmt = stmt.where(Event.created_at < created_to)
    if status or endpoint_id:
        delivery = select(EventDelivery.id).where(EventDelivery.event_id == Event.id)
        if status:
            delivery = delivery.where(EventDelivery.status == status)
        if endpoint_id:
            delivery = delivery.where(EventDelivery.endpoint_id == endpoint_id)
        stmt = stmt.where(exists(delivery))
    return await paginate(session, stmt, page, order_by=[Event.created_at, Event.id], descending=not oldest_first)


async def deliveries_of(session: AsyncSession, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[EventDelivery]]:
    out: dict[uuid.UUID, list[EventDelivery]] = {i: [] for i in event_ids}
    if event_ids:
        rows = await session.scalars(
            select(EventDelivery).where(EventDelivery.event_id.in_(event_ids)).order_by(EventDelivery.created_at)
        )
        for d in rows.all():
            out[d.event_id].append(d)
    return out


def message_view(event: Event, deliveries: list[EventDelivery]) -> schemas.EventMessage:
    return schemas.EventMessage(
        id=event.id,
        type=event.type,
        version=event.version,
        created_at=event.created_at,
        deliveries=[delivery_view(d) for d in deliveries],
    )


def delivery_view(d: EventDelivery) -> schemas.MessageDelivery:
    return schemas.MessageDelivery(
        endpoint_id=d.endpoint_id,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        last_attempt_at=d.last_attempt_at,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        succeeded_at=d.succeeded_at,
    )


def payload_of(event: Event) -> object:
    return msgspec.json.decode(event.body)


async def list_attempts(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    event_id: uuid.UUID | None = None,
    endpoint_id: uuid.UUID | None = None,
    succeeded: bool | None = None,
) -> tuple[list[EventAttempt], str | None]:
    stmt = select(EventAttempt).where(EventAttempt.tenant_id == tenant_id)
    if event_id:
        stmt = stmt.where(EventAttempt.event_id == event_id)
    if endpoint_id:
        stmt = stmt.where(EventAttempt.endpoint_id == endpoint_id)
    if succeeded is not None:
        stmt = stmt.where(EventAttempt.succeeded.is_(succeeded))
    return await paginate(session, stmt, page, order_by=[EventAttempt.attempted_at, EventAttempt.id])


def attempt_view(a: EventAttempt) -> schemas.DeliveryAttempt:
    return schemas.DeliveryAttempt(
        id=a.id,
        event_id=a.event_id,
        endpoint_id=a.endpoint_id,
        attempt=a.attempt,
        attempted_at=a.attempted_at,
        succeeded=a.succeeded,
        status_code=a.status_code,
        duration_ms=a.duration_ms,
        response_body=a.response_body,
        error=a.error,
    )


async def retry_event(session: AsyncSession, event: Event, endpoint: EventEndpoint | None) -> int:
    """One more attempt now: for every failed delivery of ``event``, or for ``endpoint`` (also
    when it had no delivery: an endpoint added, or its filter widened, after the event)."""
    if endpoint is not None:
        if not endpoint.enabled:
            raise Conflict(f"Event endpoint {endpoint.id} is disabled; enable it first.")
        current = await session.scalar(
            select(EventDelivery.status).where(
                EventDelivery.event_id == event.id, EventDelivery.endpoint_id == endpoint.id
            )
        )
        if current in ("pending", "sending"):
            raise Conflict(f"Event {event.id} is already on its way to endpoint {endpoint.id} ({current}).")
        await session.execute(
            insert(EventDelivery)
            .values(id=uuid.uuid4(), tenant_id=event.tenant_id, event_id=event.id, endpoint_id=endpoint.id)
            .on_conflict_do_update(
                index_elements=[EventDelivery.event_id, EventDelivery.endpoint_id],
                set_={"status": "pending", "next_attempt_at": text("now()")},
            )
        )
        count = 1
    else:
        result = await session.execute(
            update(EventDelivery)
            .where(EventDelivery.event_id == event.id, EventDelivery.status == "failed")
            .where(EventDelivery.endpoint_id.in_(select(EventEndpoint.id).where(EventEndpoint.enabled.is_(True))))
            .values(status="pending", next_attempt_at=text("now()"))
        )
        count = cast(CursorResult[Any], result).rowcount
    if count:
        await session.execute(WAKE)
    return count


async def recover(
    session: AsyncSession, endpoint: EventEndpoint, *, since: datetime, until: datetime | None = None
) -> int:
    """Every failed delivery to ``endpoint`` of events created in [since, until) goes again."""
    if until is not None and until <= since:
        raise Unprocessable(
            "since must be before until.", errors=[FieldError(pointer="/since", detail="must be before until")]
        )
    if not endpoint.enabled:
        raise Conflict(f"Event endpoint {endpoint.id} is disabled; enable it first.")
    events = select(Event.id).where(Event.tenant_id == endpoint.tenant_id, Event.created_at >= since)
    if until is not None:
        events = events.where(Event.created_at < until)
    result = await session.execute(
        update(EventDelivery)
        .where(
            EventDelivery.endpoint_id == endpoint.id,
            EventDelivery.status == "failed",
            EventDelivery.event_id.in_(events),
        )
        .values(status="pending", next_attempt_at=text("now()"))
    )
    count = cast(CursorResult[Any], result).rowcount
    if count:
        await session.execute(WAKE)
    return int(count)
