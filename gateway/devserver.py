"""``ponte dev``: the whole platform on one machine, with nothing but Python and uv.

Starts (or reuses, from ``.ponte/``) an embedded PostgreSQL and Valkey, applies migrations,
creates a demo tenant and key on first run, then runs the sandbox, a worker process and the
gateway until Ctrl-C. DATABASE_URL / REDIS_URL, when set, are used instead of embedded ones.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from gateway.embedded import EmbeddedServices
from gateway.settings import get_settings


def _secret_file(path: Path, make: Any) -> str:
    if path.exists():
        return path.read_text().strip()
    value = str(make())
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


async def _demo_tenant(database_url: str, key_file: Path) -> str:
    from gateway.db.session import Database
    from gateway.tenants import service

    db = Database(database_url, pool_size=2)
    try:
        async with db.unit_of_work() as session:
            tenant = await service.get_tenant_by_slug(session, "demo")
            if tenant is None:
                tenant = await service.create_tenant(session, name="Demo Corretora", slug="demo")
            if key_file.exists():
                return key_file.read_text().strip()
            _, key = await service.create_api_key(session, tenant.id, name="ponte dev")
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        return key
    finally:
        await db.dispose()


def run_dev(*, port: int, sandbox_port: int, data_dir: Path) -> None:
    import uvicorn

    from gateway import migrate

    settings = get_settings()
    data_dir.mkdir(parents=True, exist_ok=True)
    services = EmbeddedServices(data_dir, persist=True)
    click.echo("starting PostgreSQL and Valkey..." if settings.embedded else "using DATABASE_URL / REDIS_URL")
    database_url, redis_url = services.start(database_url=settings.database_url, redis_url=settings.redis_url)
    children: list[subprocess.Popen[bytes]] = []
    try:
        migrate.upgrade(database_url)
        operator_key = settings.operator_key or _secret_file(
            data_dir / "operator-key", lambda: "op_" + secrets.token_urlsafe(24)
        )
        secret_key = _secret_file(data_dir / "secret-key", lambda: secrets.token_urlsafe(32))
        demo_key = asyncio.run(_demo_tenant(database_url, data_dir / "demo-key"))
        gateway_url = f"http://127.0.0.1:{port}"
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PONTE_OPERATOR_KEY": operator_key,
            "PONTE_SECRET_KEY": os.environ.get("PONTE_SECRET_KEY", secret_key),
            "PONTE_PUBLIC_URL": gateway_url,
            "PONTE_SANDBOX_URL": sandbox_url,
            "PONTE_LOG_FORMAT": os.environ.get("PONTE_LOG_FORMAT", "console"),
        }
        os.environ.update(env)
        get_settings.cache_clear()
        children.append(subprocess.Popen([sys.executable, "-m", "sandbox", "--port", str(sandbox_port)], env=env))  # noqa: S603
        children.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker"], env=env))
        click.echo(
            f"""
Ponte is running.
  API         {gateway_url}/v1
  Docs        {gateway_url}/docs  (Swagger: {gateway_url}/docs/swagger)
  Console     {gateway_url}/console  (sign in with the demo key: {demo_key})
  Health      {gateway_url}/health/ready     Metrics {gateway_url}/metrics
  Sandbox     {sandbox_url}  (simulated insurers, core system, client portal, Boavista)
  Demo key    {demo_key}
  Operator    {operator_key}
  Data        {data_dir.resolve()}
Try: curl -H 'Authorization: Bearer {demo_key}' {gateway_url}/v1/tasks
Ctrl-C stops everything.
"""
        )
        uvicorn.run("gateway.app:create_app", factory=True, host="127.0.0.1", port=port, access_log=False)
    finally:
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()
