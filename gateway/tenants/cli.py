"""``ponte tenants`` and ``ponte keys``: the operator's commands, straight on the database.

A tenant is named by its slug or its id everywhere, as in the REST API.
"""

from __future__ import annotations

import uuid
from typing import Any

import click

from gateway.clitools import echo_json, run_with_session
from gateway.tenants.schemas import DEFAULT_LOCALE, DEFAULT_TIMEZONE, TENANT_LOCALES

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts")


@click.group(help="Tenants (operator).")
def tenants() -> None:
    pass


def _tenant(t: Any) -> dict[str, str]:
    return {
        "id": str(t.id),
        "slug": t.slug,
        "name": t.name,
        "locale": t.locale,
        "timezone": t.timezone,
        "created_at": t.created_at.isoformat(),
    }


@tenants.command("create", help="Create a tenant.")
@click.argument("name")
@click.option("--slug", required=True, help="Short name: lowercase letters, digits and -")
@click.option(
    "--locale",
    type=click.Choice(TENANT_LOCALES),
    default=DEFAULT_LOCALE,
    show_default=True,
    help="How its people write dates and money",
)
@click.option("--timezone", default=DEFAULT_TIMEZONE, show_default=True, help="IANA time zone, e.g. Europe/Warsaw")
@json_option
def tenants_create(name: str, slug: str, locale: str, timezone: str, as_json: bool) -> None:
    from gateway.tenants import service

    def create(session: Any) -> Any:
        return service.create_tenant(session, name=name, slug=slug, locale=locale, timezone=timezone)

    tenant = _tenant(run_with_session(create))
    if as_json:
        echo_json(tenant)
    else:
        click.echo(f"created tenant {tenant['slug']} ({tenant['id']})")


@tenants.command("list", help="Every tenant, oldest first.")
@json_option
def tenants_list(as_json: bool) -> None:
    from sqlalchemy import select

    from gateway.tenants.models import Tenant

    async def rows(session: Any) -> list[dict[str, str]]:
        return [_tenant(t) for t in (await session.scalars(select(Tenant).order_by(Tenant.created_at))).all()]

    found = run_with_session(rows)
    if as_json:
        echo_json(found)
        return
    for t in found:
        click.echo(f"{t['id']}  {t['slug']:<24} {t['name']}")


@click.group(help="Tenant API keys (operator).")
def keys() -> None:
    pass


def _key(k: Any) -> dict[str, Any]:
    return {
        "id": str(k.id),
        "tenant_id": str(k.tenant_id),
        "name": k.name,
        "prefix": k.prefix,
        "created_at": k.created_at.isoformat(),
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


@keys.command("create", help="Issue a key for a tenant (slug or id). The key is printed once.")
@click.argument("tenant")
@click.option("--name", default="cli", show_default=True, help="What the key is for")
@json_option
def keys_create(tenant: str, name: str, as_json: bool) -> None:
    from gateway.tenants import service

    async def create(session: Any) -> dict[str, Any]:
        found = await service.resolve_tenant(session, tenant)
        api_key, key = await service.create_api_key(session, found.id, name=name)
        return {**_key(api_key), "key": key}

    issued = run_with_session(create)
    if as_json:
        echo_json(issued)
    else:
        click.echo(f"key {issued['key']}\nid  {issued['id']}  (the key is shown only this once)")


@keys.command("list", help="API keys (ids, names and prefixes, never the keys): one tenant's (slug or id), or all.")
@click.argument("tenant", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys")
@json_option
def keys_list(tenant: str | None, show_all: bool, as_json: bool) -> None:
    from sqlalchemy import select

    from gateway.tenants import service
    from gateway.tenants.models import ApiKey, Tenant

    async def rows(session: Any) -> list[dict[str, Any]]:
        stmt = select(ApiKey, Tenant.slug).join(Tenant, Tenant.id == ApiKey.tenant_id)
        if tenant is not None:
            stmt = stmt.where(ApiKey.tenant_id == (await service.resolve_tenant(session, tenant)).id)
        if not show_all:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        result = await session.execute(stmt.order_by(Tenant.slug, ApiKey.created_at))
        return [{**_key(k), "tenant": slug} for k, slug in result.all()]

    found = run_with_session(rows)
    if as_json:
        echo_json(found)
        return
    for k in found:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        click.echo(f"{k['id']}  {k['tenant']:<16} {k['prefix']}…  {k['name']:<20} {state}")


@keys.command("revoke", help="Revoke a key by its id (see `ponte keys list`).")
@click.argument("key_id", type=click.UUID)
def keys_revoke(key_id: uuid.UUID) -> None:
    from gateway.errors import NotFound
    from gateway.tenants.models import ApiKey
    from gateway.tenants.service import revoke_api_key

    async def revoke(session: Any) -> Any:
        key = await session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"no key {key_id}")
        return await revoke_api_key(session, key.tenant_id, key.id)

    run_with_session(revoke)
    click.echo(f"revoked {key_id}")
