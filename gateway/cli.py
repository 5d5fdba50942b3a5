"""The ``ponte`` command: run the platform, migrate, manage tenants and keys, export OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.settings import get_settings


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@click.group(help="Ponte: integration gateway. Configuration comes from the environment (see README).")
def main() -> None:
    pass


@main.command(help="Everything on this machine: embedded PostgreSQL and Valkey, migrations, gateway, worker, sandbox.")
@click.option("--port", default=8000, show_default=True)
@click.option("--sandbox-port", default=8090, show_default=True)
@click.option("--data-dir", default=None, help="Where dev data persists (default .ponte/)")
def dev(port: int, sandbox_port: int, data_dir: str | None) -> None:
    from gateway.devserver import run_dev

    with contextlib.suppress(KeyboardInterrupt):
        run_dev(port=port, sandbox_port=sandbox_port, data_dir=Path(data_dir or get_settings().data_dir))
    click.echo("Ponte stopped.")


@main.command(help="Run the HTTP gateway (production: behind a load balancer, N of them).")
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104 - a server binds where it is told
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes")
def api(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run("gateway.app:create_app", factory=True, host=host, port=port, workers=workers, access_log=False)


@main.command(help="Run an arq worker (production: N of them).")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty")
def worker(burst: bool) -> None:
    from workers.main import WorkerSettings
    from workers.worker import run

    run(WorkerSettings, burst=burst)


@main.command(help="Apply database migrations (upgrade to head, or downgrade).")
@click.argument("direction", type=click.Choice(["upgrade", "downgrade"]), default="upgrade")
@click.option("--revision", default=None, help="Target revision (default head / base)")
def migrate(direction: str, revision: str | None) -> None:
    from gateway import migrate as m

    url = _require_database_url()
    if direction == "upgrade":
        m.upgrade(url, revision or "head")
    else:
        m.downgrade(url, revision or "base")
    click.echo(f"migrations: {direction} to {revision or ('head' if direction == 'upgrade' else 'base')} done")


def _require_database_url() -> str:
    url = get_settings().database_url
    if not url:
        raise click.ClickException("DATABASE_URL is not set (ponte dev starts an embedded database by itself).")
    return url


async def _with_session(fn: Any) -> Any:
    from gateway.db.session import Database

    db = Database(_require_database_url(), pool_size=2)
    try:
        async with db.unit_of_work() as session:
            return await fn(session)
    finally:
        await db.dispose()


@main.group(help="Tenants.")
def tenants() -> None:
    pass


@tenants.command("create")
@click.argument("name")
@click.option("--slug", required=True)
def tenants_create(name: str, slug: str) -> None:
    from gateway.tenants import service

    tenant = _run(_with_session(lambda s: service.create_tenant(s, name=name, slug=slug)))
    click.echo(json.dumps({"id": str(tenant.id), "name": tenant.name, "slug": tenant.slug}))


@tenants.command("list")
def tenants_list() -> None:
    from sqlalchemy import select

    from gateway.tenants.models import Tenant

    async def rows(session: Any) -> list[Any]:
        return list((await session.scalars(select(Tenant).order_by(Tenant.created_at))).all())

    for t in _run(_with_session(rows)):
        click.echo(f"{t.id}  {t.slug:<24} {t.name}")


@main.group(help="Tenant API keys.")
def keys() -> None:
    pass


@keys.command("create", help="Issue a key for a tenant (by slug). The key is printed once.")
@click.argument("tenant_slug")
@click.option("--name", default="cli")
def keys_create(tenant_slug: str, name: str) -> None:
    from gateway.tenants import service

    async def create(session: Any) -> tuple[Any, str]:
        tenant = await service.get_tenant_by_slug(session, tenant_slug)
        if tenant is None:
            raise click.ClickException(f"no tenant with slug {tenant_slug!r}")
        return await service.create_api_key(session, tenant.id, name=name)

    api_key, key = _run(_with_session(create))
    click.echo(json.dumps({"id": str(api_key.id), "key": key}))


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    import uuid

    from gateway.tenants.models import ApiKey
    from gateway.tenants.service import revoke_api_key

    async def revoke(session: Any) -> Any:
        key = await session.get(ApiKey, uuid.UUID(key_id))
        if key is None:
            raise click.ClickException(f"no key {key_id}")
        return await revoke_api_key(session, key.tenant_id, key.id)

    _run(_with_session(revoke))
    click.echo(f"revoked {key_id}")


@main.command(help="Write the OpenAPI spec generated from the code (or --check it is up to date).")
@click.option("--output", default="openapi/openapi.json", show_default=True)
@click.option("--check", is_flag=True, help="Exit 1 if the committed file differs")
def openapi(output: str, check: bool) -> None:
    from gateway.openapi import render_spec

    spec = render_spec()
    path = Path(output)
    if check:
        if not path.exists() or path.read_text() != spec:
            click.echo(f"{output} is out of date: run `ponte openapi`", err=True)
            sys.exit(1)
        click.echo(f"{output} is up to date")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec)
    click.echo(f"wrote {output}")


from gateway.imports.cli import imports as imports_group  # noqa: E402

main.add_command(imports_group)


if __name__ == "__main__":
    main()
