"""Connections (one per tenant, insurer and option set): CRUD, the "test connection" call, and partner clients.

Credentials are encrypted with the runtime's cipher before they reach the database and are
never returned by the API. Options are checked against the catalogue (422 with a pointer per
problem, e.g. the Hestia MTU/YCD identity rule).
"""

from __future__ import annotations

import time as clock
import uuid
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.egress import check_configured_url
from gateway.errors import Conflict, FieldError, NotFound, ServiceUnavailable, Unprocessable
from gateway.imports import health, schemas
from gateway.imports.catalogue import INSURERS, Insurer, validate_options
from gateway.imports.models import InsurerConnection
from gateway.pagination import PageParams, paginate
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.partners.insurer_rest import InsurerRestClient
from gateway.partners.insurer_soap import InsurerSoapClient
from gateway.runtime import Runtime

COUNTRY_TIMEZONES = {"pt": "Europe/Lisbon", "pl": "Europe/Warsaw"}

InsurerClient = InsurerRestClient | InsurerSoapClient


def insurer_or_422(code: str) -> Insurer:
    insurer = INSURERS.get(code)
    if insurer is None:
        raise Unprocessable(
            f"No insurer '{code}' (see GET /v1/insurers).",
            errors=[FieldError(pointer="/insurer", detail="unknown insurer")],
        )
    return insurer


def _check_options(insurer: Insurer, options: dict[str, str]) -> None:
    problems = validate_options(insurer, dict(options))
    if problems:
        errors = [FieldError(pointer=p, detail=d) for p, d in problems]
        raise Unprocessable(f"The options are not valid for {insurer.name}.", errors=errors)


def _schedule(model: InsurerConnection, schedule: schemas.Schedule, insurer: Insurer) -> None:
    zone = schedule.timezone or COUNTRY_TIMEZONES[insurer.country]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(
            "Unknown time zone.",
            errors=[FieldError(pointer="/schedule/timezone", detail=f"{zone!r} is not an IANA time zone")],
        ) from None
    hours, minutes = schedule.time.split(":")
    model.schedule_time, model.schedule_timezone, model.schedule_enabled = (
        time(int(hours), int(minutes)),
        zone,
        schedule.enabled,
    )


async def create_connection(
    session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, data: schemas.ConnectionCreate
) -> InsurerConnection:
    insurer = insurer_or_422(data.insurer)
    _check_options(insurer, data.options)
    if data.base_url:
        await check_configured_url(runtime.egress, data.base_url, pointer="/base_url")
    model = InsurerConnection(
        id=uuid.uuid4(), tenant_id=tenant_id, insurer=insurer.code, options=dict(data.options), enabled=data.enabled,
        base_url=data.base_url or insurer.endpoint_url(runtime.settings.sandbox_url),
        credentials=runtime.cipher.encrypt(msgspec_to_dict(data.credentials)),
    )  # fmt: skip
    _schedule(model, data.schedule, insurer)
    try:
        async with session.begin_nested():
            session.add(model)
            await session.flush()
    except IntegrityError:
        existing = await session.scalar(
            select(InsurerConnection.id).where(
                InsurerConnection.tenant_id == tenant_id, InsurerConnection.insurer == insurer.code,
                InsurerConnection.options == dict(data.options),
            )
        )  # fmt: skip
        # The existing connection's id, so a client (or a re-run walkthrough) can use it.
        raise Conflict(
            f"This tenant already has a connection to {insurer.name} with these options.",
            extra={"connection_id": str(existing)},
        ) from None
    return model


def msgspec_to_dict(credentials: schemas.Credentials) -> dict[str, Any]:
    return {"username": credentials.username, "password": credentials.password}


async def get_connection(session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> InsurerConnection:
    model = await session.get(InsurerConnection, connection_id)
    if model is None or model.tenant_id != tenant_id:
        raise NotFound(f"Connection {connection_id} does not exist.")
    return model


async def find_connection(
    session: AsyncSession, tenant_id: uuid.UUID, insurer: str, *, prefer: uuid.UUID | None = None
) -> InsurerConnection | None:
    """A connection to ``insurer``: ``prefer`` if it is one, else the oldest enabled one (a
    tenant may hold several, one per option set)."""
    stmt = (
        select(InsurerConnection)
        .where(InsurerConnection.tenant_id == tenant_id, InsurerConnection.insurer == insurer)
        .order_by((InsurerConnection.id == prefer).desc() if prefer else InsurerConnection.created_at,
                  InsurerConnection.enabled.desc(), InsurerConnection.created_at, InsurerConnection.id)
        .limit(1)
    )  # fmt: skip
    return (await session.scalars(stmt)).first()


async def list_connections(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageParams, *, health_status: health.HealthStatus | None = None
) -> tuple[list[InsurerConnection], str | None]:
    stmt, _ = health.with_health(
        select(InsurerConnection).where(InsurerConnection.tenant_id == tenant_id), health_status
    )
    return await paginate(session, stmt, page, order_by=[InsurerConnection.created_at, InsurerConnection.id])


async def update_connection(
    session: AsyncSession,
    runtime: Runtime,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    data: schemas.ConnectionUpdate,
) -> InsurerConnection:
    model = await get_connection(session, tenant_id, connection_id)
    insurer = INSURERS[model.insurer]
    if data.options is not None:
        _check_options(insurer, data.options)
        model.options = dict(data.options)
    if data.credentials is not None:
        model.credentials = runtime.cipher.encrypt(msgspec_to_dict(data.credentials))
        model.credentials_ok = model.credentials_checked_at = model.credentials_error = None  # not tried yet
    if data.base_url is not None:
        await check_configured_url(runtime.egress, data.base_url, pointer="/base_url")
        model.base_url = data.base_url
    if data.schedule is not None:
        _schedule(model, data.schedule, insurer)
    if data.enabled is not None:
        model.enabled = data.enabled
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"This tenant already has a connection to {insurer.name} with these options.") from None
    return model


async def delete_connection(session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> None:
    """The connection goes; the policies it imported stay (they belong to the tenant)."""
    await session.delete(await get_connection(session, tenant_id, connection_id))
    await session.flush()


def run_options(connection: InsurerConnection, override: dict[str, str] | None) -> dict[str, str]:
    """The options of one import: the connection's, with a manual import's override on top."""
    return {**connection.options, **(override or {})}


def check_run_options(connection: InsurerConnection, override: dict[str, str]) -> dict[str, str]:
    """422 unless the connection's options with ``override`` applied are valid for the insurer."""
    merged = run_options(connection, override)
    _check_options(INSURERS[connection.insurer], merged)
    return merged


def open_client(
    runtime: Runtime, connection: InsurerConnection, *, page_size: int = 500, options: dict[str, str] | None = None
) -> InsurerClient:
    """A partner client for the connection's protocol; close it (``async with``) after use.
    ``options`` replaces the connection's for this client (a manual import's override)."""
    insurer = INSURERS[connection.insurer]
    secret = runtime.cipher.decrypt(connection.credentials)
    cls = InsurerSoapClient if insurer.protocol == "soap" else InsurerRestClient
    return cls(
        connection.base_url,
        insurer.code,
        secret["username"],
        secret["password"],
        connection.options if options is None else options,
        page_size=page_size,
        egress=runtime.egress,
    )


async def check_connection(runtime: Runtime, connection: InsurerConnection) -> schemas.ConnectionTest:
    """Ping the insurer with the stored credentials.

    A partner that is down or slow answers 503 (try later); one that refuses the credentials
    or options answers 422 with a pointer to what to fix: the request was fine, the
    connection's configuration is not.
    """
    started = clock.monotonic()
    try:
        async with open_client(runtime, connection) as client:
            reply = await client.ping()
    except TransientPartnerError as exc:
        raise ServiceUnavailable(f"The insurer did not answer: {exc.detail}. Try again later.") from exc
    except PermanentPartnerError as exc:
        if exc.code in health.CREDENTIAL_CODES:
            await health.record_credentials(runtime, connection.id, exc.code)
        pointer, detail = {
            "unauthorized": ("/credentials", "the insurer refused the username or password"),
            "permission_denied": ("/credentials", "the account may not use this web service"),
            "identity_mismatch": ("/options/identity", "the account's identity does not match the requested brand"),
            "not_found": ("/base_url", "no such web service at this address"),
            "egress_refused": ("/base_url", exc.detail),
        }.get(exc.code, ("/options", exc.detail))
        raise Unprocessable(
            f"The insurer refused the connection ({exc.code}).",
            errors=[FieldError(pointer=pointer, detail=detail)],
            extra={"partner_error": exc.code},
        ) from exc
    latency = int((clock.monotonic() - started) * 1000)
    await health.record_credentials(runtime, connection.id, None)
    return schemas.ConnectionTest(
        ok=True, insurer=connection.insurer, server_time=reply.get("server_time"), latency_ms=latency
    )


def to_schema(model: InsurerConnection, health_of: schemas.ConnectionHealth | None = None) -> schemas.Connection:
    return schemas.Connection(
        id=model.id, insurer=model.insurer, insurer_name=INSURERS[model.insurer].name, base_url=model.base_url,
        options=model.options, enabled=model.enabled, has_credentials=bool(model.credentials),
        schedule=schemas.Schedule(
            time=model.schedule_time.strftime("%H:%M"), timezone=model.schedule_timezone, enabled=model.schedule_enabled
        ),
        covered_until=model.covered_until, created_at=model.created_at, updated_at=model.updated_at,
        health=health_of,
    )  # fmt: skip
