"""The tenant's core-system connection: address and token (encrypted, write-only) and the check.

The seed warns that nothing works until "o endereço cliente" is set correctly, so Ponte
refuses to run any sync until the connection is configured *and* its last check succeeded.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.egress import check_configured_url
from gateway.errors import Conflict, NotFound
from gateway.partners.core_system import CoreSystemClient, CoreSystemCredentials
from gateway.partners.errors import PartnerError
from gateway.portal.catalogue import SyncDefinition
from gateway.portal.models import CoreSystemConnection
from gateway.runtime import Runtime

NOT_READY = "core_system_not_ready"
UNAVAILABLE = "sync_unavailable_for_edition"


def default_base_url(runtime: Runtime) -> str:
    return f"{runtime.settings.sandbox_url}/core"


async def configure(
    session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, *, base_url: str | None, token: str
) -> CoreSystemConnection:
    """Create or replace the connection; any change means it must be checked again."""
    if base_url:
        await check_configured_url(runtime.egress, base_url, pointer="/base_url")
    connection = await session.get(CoreSystemConnection, tenant_id)
    if connection is None:
        connection = CoreSystemConnection(tenant_id=tenant_id)
        session.add(connection)
    connection.base_url = (base_url or default_base_url(runtime)).rstrip("/")
    connection.credentials = runtime.cipher.encrypt({"token": token})
    connection.checked_ok = False
    connection.checked_at = None
    connection.check_error = None
    connection.edition = connection.tables_version = None  # another system, perhaps
    await session.flush()
    return connection


async def get(session: AsyncSession, tenant_id: uuid.UUID) -> CoreSystemConnection:
    connection = await session.get(CoreSystemConnection, tenant_id)
    if connection is None:
        raise NotFound("The core-system connection is not configured: PUT /v1/portal/connection first.")
    return connection


def client_for(runtime: Runtime, connection: CoreSystemConnection) -> CoreSystemClient:
    token = runtime.cipher.decrypt(connection.credentials)["token"]
    return CoreSystemClient(connection.base_url, CoreSystemCredentials(token), http=runtime.http)


async def check(session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID) -> CoreSystemConnection:
    """Call the core system's health check with the stored address and token; record the outcome."""
    connection = await get(session, tenant_id)
    try:
        health = await client_for(runtime, connection).ping()
    except PartnerError as exc:
        connection.checked_ok, connection.check_error = False, f"{exc.code}: {exc.detail}"
    else:
        connection.checked_ok, connection.check_error = True, None
        connection.edition = health.edition
        if connection.tables_version is None:  # later moves are the table watcher's to notice
            connection.tables_version = health.tables_version
    connection.checked_at = utcnow()
    await session.flush()
    return connection


def not_ready_reason(connection: CoreSystemConnection | None) -> str | None:
    """Why syncs cannot run yet, or ``None`` when they can."""
    if connection is None:
        return "The core-system address is not configured (PUT /v1/portal/connection)."
    if connection.checked_at is None:
        return "The core-system connection has not been checked (POST /v1/portal/connection/check)."
    if not connection.checked_ok:
        return f"The last core-system check failed ({connection.check_error}); fix the connection and check it again."
    return None


def unavailable_reason(sync: SyncDefinition, connection: CoreSystemConnection | None) -> str | None:
    """Why this sync cannot run on the tenant's core system (its edition), or None."""
    if not sync.editions:
        return None
    wanted = " or ".join(sync.editions)
    edition = connection.edition if connection is not None else None
    if edition is None:
        return f"{sync.title} only runs on {wanted} core systems; check the connection so it declares its edition."
    if edition not in sync.editions:
        return f"{sync.title} only runs on {wanted} core systems; this core system is the {edition} edition."
    return None


async def require_ready(session: AsyncSession, tenant_id: uuid.UUID) -> CoreSystemConnection:
    connection = await session.get(CoreSystemConnection, tenant_id)
    reason = not_ready_reason(connection)
    if reason is not None or connection is None:
        raise Conflict(reason or "", extra={"code": NOT_READY})
    return connection
