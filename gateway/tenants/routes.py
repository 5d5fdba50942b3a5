from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pagination import PageParams
from gateway.tenants import models, schemas, service
from gateway.tenants.auth import KeyCache, require_operator

# A tenant is named by its id or its slug, as in the CLI.
TenantRef = Annotated[
    str,
    Parameter(description="The tenant's id or slug", min_length=1, max_length=63, pattern=r"^[0-9A-Za-z-]+$"),
]


def _tenant(t: models.Tenant) -> schemas.Tenant:
    return schemas.Tenant(
        id=t.id, name=t.name, slug=t.slug, locale=t.locale, timezone=t.timezone, created_at=t.created_at
    )


def _key(k: models.ApiKey) -> schemas.ApiKey:
    return schemas.ApiKey(
        id=k.id,
        tenant_id=k.tenant_id,
        name=k.name,
        prefix=k.prefix,
        created_at=k.created_at,
        revoked_at=k.revoked_at,
    )


class TenantController(Controller):
    """Tenant and key management, for the operator key only."""

    path = "/v1/tenants"
    tags = ["Tenants"]
    guards = [require_operator]

    @post("/", operation_id="CreateTenant", summary="Create a tenant")
    async def create_tenant(self, session: AsyncSession, data: schemas.TenantCreate) -> schemas.Tenant:
        """`locale` and `timezone` say how the console shows the tenant's dates and money (its
        people still read in their own language); they default to pt_BR and America/Sao_Paulo."""
        return _tenant(
            await service.create_tenant(
                session, name=data.name, slug=data.slug, locale=data.locale, timezone=data.timezone
            )
        )

    @get("/", operation_id="ListTenants", summary="List tenants")
    async def list_tenants(self, session: AsyncSession, page: PageParams) -> schemas.TenantPage:
        rows, next_cursor = await service.list_tenants(session, page)
        return schemas.TenantPage(items=[_tenant(t) for t in rows], next_cursor=next_cursor)

    @get("/{tenant:str}", operation_id="GetTenant", summary="A tenant")
    async def get_tenant(self, session: AsyncSession, tenant: TenantRef) -> schemas.Tenant:
        return _tenant(await service.resolve_tenant(session, tenant))

    @patch("/{tenant:str}", operation_id="UpdateTenant", summary="Rename a tenant, or change its locale or time zone")
    async def update_tenant(
        self, session: AsyncSession, tenant: TenantRef, data: schemas.TenantUpdate
    ) -> schemas.Tenant:
        """Only the fields sent change. A `timezone` the tz database does not have is a 422."""
        found = await service.resolve_tenant(session, tenant)
        return _tenant(await service.update_tenant(session, found, data))

    @post("/{tenant:str}/keys", operation_id="CreateApiKey", summary="Issue an API key (shown once)")
    async def create_key(
        self, session: AsyncSession, tenant: TenantRef, data: schemas.ApiKeyCreate
    ) -> schemas.ApiKeyCreated:
        found = await service.resolve_tenant(session, tenant)
        api_key, key = await service.create_api_key(session, found.id, name=data.name)
        return schemas.ApiKeyCreated(
            id=api_key.id,
            tenant_id=found.id,
            name=api_key.name,
            prefix=api_key.prefix,
            key=key,
            created_at=api_key.created_at,
        )

    @get("/{tenant:str}/keys", operation_id="ListApiKeys", summary="List a tenant's API keys (never the keys)")
    async def list_keys(self, session: AsyncSession, tenant: TenantRef, page: PageParams) -> schemas.ApiKeyPage:
        found = await service.resolve_tenant(session, tenant)
        rows, next_cursor = await service.list_api_keys(session, found.id, page)
        return schemas.ApiKeyPage(items=[_key(k) for k in rows], next_cursor=next_cursor)

    @delete("/{tenant:str}/keys/{key_id:uuid}", operation_id="RevokeApiKey", summary="Revoke an API key")
    async def revoke_key(self, request: Request, session: AsyncSession, tenant: TenantRef, key_id: uuid.UUID) -> None:  # type: ignore[type-arg]
        found = await service.resolve_tenant(session, tenant)
        await service.revoke_api_key(session, found.id, key_id)
        cache: KeyCache = request.app.state.key_cache
        cache.clear()


@get("/v1/me", operation_id="GetCurrentTenant", summary="The tenant the API key belongs to", tags=["Tenants"])
async def current_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> schemas.Tenant:
    """With the tenant's `locale` and `timezone`: how the console writes its dates and money."""
    return _tenant(await service.get_tenant(session, tenant_id))
