"""Tenants and their API keys. Keys are returned in clear once, at creation."""

from __future__ import annotations

import uuid
import zoneinfo
from functools import cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import hash_api_key, new_api_key
from gateway.db.base import utcnow
from gateway.errors import Conflict, FieldError, NotFound, Unprocessable
from gateway.pagination import PageParams, paginate
from gateway.tenants.models import ApiKey, Tenant
from gateway.tenants.schemas import DEFAULT_LOCALE, DEFAULT_TIMEZONE, TENANT_LOCALES, TenantUpdate


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """``name`` if the tz database has it; a 422 otherwise (checked against the list, never
    opened as a path, so ``../x`` is just an unknown name)."""
    if name not in _time_zones():
        raise Unprocessable(
            f"'{name}' is not a time zone of the tz database.",
            errors=[FieldError(pointer="/timezone", detail="an IANA time zone, e.g. America/Sao_Paulo")],
        )
    return name


def check_locale(name: str) -> str:
    # The schema already refuses other values; callers that are not the API (CLI) land here.
    if name not in TENANT_LOCALES:
        raise Unprocessable(
            f"'{name}' is not a locale Ponte formats in.",
            errors=[FieldError(pointer="/locale", detail="one of " + ", ".join(TENANT_LOCALES))],
        )
    return name


async def create_tenant(
    session: AsyncSession, *, name: str, slug: str, locale: str = DEFAULT_LOCALE, timezone: str = DEFAULT_TIMEZONE
) -> Tenant:
    tenant = Tenant(name=name, slug=slug, locale=check_locale(locale), timezone=check_timezone(timezone))
    session.add(tenant)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A tenant with slug '{slug}' exists.", errors=[FieldError(pointer="/slug", detail="already taken")]
        ) from exc
    return tenant


async def list_tenants(session: AsyncSession, page: PageParams) -> tuple[list[Tenant], str | None]:
    return await paginate(session, select(Tenant), page, order_by=[Tenant.created_at, Tenant.id])


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.")
    return tenant


async def update_tenant(session: AsyncSession, tenant: Tenant, data: TenantUpdate) -> Tenant:
    """Only what ``data`` sets changes; console pages use new formats from their next request."""
    if data.name is not None:
        tenant.name = data.name
    if data.locale is not None:
        tenant.locale = check_locale(data.locale)
    if data.timezone is not None:
        tenant.timezone = check_timezone(data.timezone)
    await session.flush()
    return tenant


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return (await session.scalars(select(Tenant).where(Tenant.slug == slug))).first()


async def resolve_tenant(session: AsyncSession, ref: str) -> Tenant:
    """A tenant named by its id or its slug, wherever an operator names one."""
    try:
        tenant_id = uuid.UUID(ref)
    except ValueError:
        tenant = await get_tenant_by_slug(session, ref)
        if tenant is None:
            raise NotFound(f"No tenant has the id or slug '{ref}'.") from None
        return tenant
    return await get_tenant(session, tenant_id)


async def create_api_key(session: AsyncSession, tenant_id: uuid.UUID, *, name: str) -> tuple[ApiKey, str]:
    await get_tenant(session, tenant_id)
    key = new_api_key()
    api_key = ApiKey(tenant_id=tenant_id, name=name, key_hash=hash_api_key(key), prefix=key[:12])
    session.add(api_key)
    await session.flush()
    return api_key, key


async def list_api_keys(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageParams
) -> tuple[list[ApiKey], str | None]:
    stmt = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
    return await paginate(session, stmt, page, order_by=[ApiKey.created_at, ApiKey.id])


async def revoke_api_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    api_key = await session.get(ApiKey, key_id)
    if api_key is None or api_key.tenant_id != tenant_id:
        raise NotFound(f"API key {key_id} does not exist for this tenant.")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
    return api_key
