"""Event endpoints: registration (secret shown once), changes, rotation, enable/disable, ping.

Services never commit; the request's unit of work does. Another tenant's endpoint is a 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import CredentialCipher
from gateway.db.base import utcnow
from gateway.egress import EgressPolicy
from gateway.errors import Conflict, NotFound
from gateway.events import schemas
from gateway.events.catalogue import Ping
from gateway.events.models import EventEndpoint
from gateway.events.outbox import emit
from gateway.events.transport import check_endpoint_url
from gateway.pagination import PageParams, paginate
from gateway.webhooks import signing


def event_type_filter(names: list[str]) -> list[str]:
    """The stored filter: each name once, sorted. The names are the catalogue's already: the
    request types (``schemas.EventTypeName``) admit no other."""
    return sorted(set(names))


async def create_endpoint(
    session: AsyncSession,
    cipher: CredentialCipher,
    egress: EgressPolicy,
    tenant_id: uuid.UUID,
    data: schemas.EventEndpointCreate,
) -> tuple[EventEndpoint, str]:
    url = await check_endpoint_url(data.url, egress)
    secret = signing.new_secret()
    endpoint = EventEndpoint(
        tenant_id=tenant_id,
        url=url,
        description=data.description,
        event_types=event_type_filter(data.event_types),
        enabled=data.enabled,
        secrets=[signing.seal(cipher, secret, now=utcnow())],
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> EventEndpoint:
    endpoint = await session.get(EventEndpoint, endpoint_id, populate_existing=True)
    if endpoint is None or endpoint.tenant_id != tenant_id:
        raise NotFound(f"Event endpoint {endpoint_id} does not exist.")
    return endpoint


async def list_endpoints(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageParams, *, enabled: bool | None = None
) -> tuple[list[EventEndpoint], str | None]:
    stmt = select(EventEndpoint).where(EventEndpoint.tenant_id == tenant_id)
    if enabled is not None:
        stmt = stmt.where(EventEndpoint.enabled.is_(enabled))
    return await paginate(session, stmt, page, order_by=[EventEndpoint.created_at, EventEndpoint.id])


async def endpoints_by_id(
    session: AsyncSession, tenant_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, EventEndpoint]:
    """The tenant's endpoints among ``ids`` (to name the endpoints of a page of deliveries)."""
    if not ids:
        return {}
    rows = await session.scalars(
        select(EventEndpoint).where(EventEndpoint.tenant_id == tenant_id, EventEndpoint.id.in_(ids))
    )
    return {e.id: e for e in rows.all()}


async def update_endpoint(
    session: AsyncSession, egress: EgressPolicy, endpoint: EventEndpoint, data: schemas.EventEndpointUpdate
) -> EventEndpoint:
    if data.url is not None:
        endpoint.url = await check_endpoint_url(data.url, egress)
    if data.description is not None:
        endpoint.description = data.description
    if data.event_types is not None:
        endpoint.event_types = event_type_filter(data.event_types)
    await session.flush()
    return endpoint


async def set_enabled(session: AsyncSession, endpoint: EventEndpoint, enabled: bool) -> EventEndpoint:
    """Enabling starts afresh: the failure clock restarts and the reason Ponte disabled it goes.
    Deliveries held while disabled resume; failed ones come back with ``recover``."""
    endpoint.enabled = enabled
    if enabled:
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint: EventEndpoint) -> None:
    """The endpoint and its deliveries and attempts go; the events stay for other endpoints."""
    await session.execute(delete(EventEndpoint).where(EventEndpoint.id == endpoint.id))


async def rotate_secret(
    session: AsyncSession, cipher: CredentialCipher, endpoint: EventEndpoint, *, grace_seconds: int
) -> tuple[str, datetime | None]:
    """New secret first; the previous ones keep signing for ``grace_seconds`` (never longer
    than they already had), so receivers can switch at their pace. Only the newest few stay."""
    now = utcnow()
    endpoint.secrets, secret, until = signing.rotate(cipher, endpoint.secrets, now=now, grace_seconds=grace_seconds)
    endpoint.updated_at = now  # a new version: dispatchers re-read the signers
    await session.flush()
    return secret, until


async def send_ping(session: AsyncSession, endpoint: EventEndpoint) -> uuid.UUID:
    if not endpoint.enabled:
        raise Conflict(f"Event endpoint {endpoint.id} is disabled; enable it first.")
    return await emit(session, endpoint.tenant_id, "ping", Ping(), endpoint_id=endpoint.id)


def endpoint_view(e: EventEndpoint) -> schemas.EventEndpoint:
    return schemas.EventEndpoint(
        id=e.id,
        url=e.url,
        description=e.description,
        event_types=list(e.event_types),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        failing_since=e.failing_since,
        last_success_at=e.last_success_at,
        secrets_active=len(e.secrets),
        created_at=e.created_at,
    )
