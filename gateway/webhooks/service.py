"""Webhook endpoints (with secret rotation) and the stored events: listing, detail, replay."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import CredentialCipher
from gateway.db.base import utcnow
from gateway.errors import Conflict, FieldError, NotFound, Unprocessable
from gateway.pagination import PageParams, paginate
from gateway.tasks import service as tasks_service
from gateway.tasks.models import Task
from gateway.webhooks import signing
from gateway.webhooks.events import EVENT_TYPES, accepts
from gateway.webhooks.intake import PROCESS_KIND
from gateway.webhooks.models import WebhookEndpoint, WebhookEvent


def validate_source(source: str) -> None:
    if source.startswith("insurer:"):
        from gateway.imports.catalogue import INSURERS

        if source.split(":", 1)[1] not in INSURERS:
            raise Unprocessable(
                f"Unknown insurer in source '{source}'.",
                errors=[FieldError(pointer="/source", detail="unknown insurer code; see GET /v1/insurers")],
            )


def event_types_for(source: str) -> list[str]:
    return [name for name, et in EVENT_TYPES.items() if accepts(et, source)]


async def create_endpoint(
    session: AsyncSession, cipher: CredentialCipher, *, tenant_id: uuid.UUID, source: str, description: str
) -> tuple[WebhookEndpoint, str]:
    validate_source(source)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        source=source,
        description=description,
        secrets=[signing.seal(cipher, secret, now=utcnow())],
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.tenant_id != tenant_id:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    return endpoint


async def list_endpoints(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageParams
) -> tuple[list[WebhookEndpoint], str | None]:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
    return await paginate(session, stmt, page, order_by=[WebhookEndpoint.created_at, WebhookEndpoint.id])


async def find_endpoint(session: AsyncSession, tenant_id: uuid.UUID, source: str) -> WebhookEndpoint | None:
    """The tenant's enabled endpoint for a source (capabilities use it to wire partners)."""
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.source == source, WebhookEndpoint.enabled.is_(True)
    )
    return (await session.scalars(stmt.order_by(WebhookEndpoint.created_at.desc()))).first()


async def rotate_secret(
    session: AsyncSession, cipher: CredentialCipher, endpoint: WebhookEndpoint, *, grace_seconds: int
) -> tuple[str, datetime | None]:
    """New secret first; the previous ones stay valid ``grace_seconds`` (never longer than
    they already had), and only the newest few are kept."""
    endpoint.secrets, secret, until = signing.rotate(
        cipher, endpoint.secrets, now=utcnow(), grace_seconds=grace_seconds
    )
    await session.flush()
    return secret, until


async def disable_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    endpoint.enabled = False
    await session.flush()


async def get_event(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> WebhookEvent:
    event = await session.get(WebhookEvent, event_id)
    if event is None or event.tenant_id != tenant_id:
        raise NotFound(f"Webhook event {event_id} does not exist.")
    return event


async def event_task(session: AsyncSession, event: WebhookEvent) -> Task | None:
    return await session.get(Task, event.task_id) if event.task_id else None


async def list_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    status: str | None = None,
    source: str | None = None,
    event_type: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
) -> tuple[list[WebhookEvent], str | None]:
    stmt = select(WebhookEvent).where(WebhookEvent.tenant_id == tenant_id)
    if status:
        stmt = stmt.where(WebhookEvent.status == status)
    if source:
        stmt = stmt.where(WebhookEvent.source == source)
    if event_type:
        stmt = stmt.where(WebhookEvent.event_type == event_type)
    if received_from:
        stmt = stmt.where(WebhookEvent.received_at >= received_from)
    if received_to:
        stmt = stmt.where(WebhookEvent.received_at < received_to)
    return await paginate(session, stmt, page, order_by=[WebhookEvent.received_at, WebhookEvent.id])


async def replay_event(session: AsyncSession, event: WebhookEvent) -> WebhookEvent:
    """Process a stored event again (after fixing what made it fail). Rejected events were
    never valid and cannot be replayed; handlers are idempotent, so a replay of a processed
    event changes nothing it already did."""
    if event.status == "rejected":
        raise Conflict("Rejected events did not match their schema and are kept for audit only.")
    # A task of its own: the original batch task may carry other events that must not re-run.
    task, _ = await tasks_service.create_task(
        session,
        tenant_id=event.tenant_id,
        kind=PROCESS_KIND,
        params={"event_ids": [str(event.id)]},
        subject_id=str(event.id),
        trigger="replay",
    )
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event.id)
        .values(status="received", error=None, processed_at=None, task_id=task.id)
    )
    await session.refresh(event)
    return event


async def replay_failed(
    session: AsyncSession, tenant_id: uuid.UUID, *, received_from: datetime, received_to: datetime
) -> list[uuid.UUID]:
    if received_from >= received_to:
        raise Unprocessable(
            "received_from must be before received_to.",
            errors=[FieldError(pointer="/received_from", detail="must be before received_to")],
        )
    stmt = select(WebhookEvent).where(
        WebhookEvent.tenant_id == tenant_id,
        WebhookEvent.status == "failed",
        WebhookEvent.received_at >= received_from,
        WebhookEvent.received_at < received_to,
    )
    replayed = []
    for event in (await session.scalars(stmt.limit(10_000))).all():
        await replay_event(session, event)
        replayed.append(event.id)
    return replayed
