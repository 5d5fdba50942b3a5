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
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import uvicorn

from gateway.devenv import env_path, write_env
from gateway.embedded import EmbeddedServices
from gateway.server import APP, server_options
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


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports(*, port: int, sandbox_port: int) -> None:
    """Fail in one line, before anything starts or is printed, when a port is taken."""
    for value, option in ((port, "--port"), (sandbox_port, "--sandbox-port")):
        if _port_in_use(value):
            raise click.ClickException(f"port {value} is already in use: choose another with {option} N")
    if port == sandbox_port:
        raise click.ClickException("--port and --sandbox-port must differ")


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: get ``sig`` when the parent process dies (a `ponte dev` killed outright takes
    its sandbox and worker with it; a closed terminal's `uv run` takes `ponte dev`)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG


def own_process_group() -> None:
    """Take `ponte dev` and what it starts out of the terminal's process group.

    The terminal sends Ctrl-C to its whole foreground group, and ``uv run`` forwards it to its
    child as well: `ponte dev` would get it twice and the embedded Valkey (started by a library,
    in our group) would stop before the worker that uses it. In a group of its own, `ponte dev`
    gets the one SIGINT that ``uv`` forwards, and stops everything in order.
    """
    if sys.platform != "linux" or os.getpgid(0) == os.getpid():
        return  # already a group leader (started directly by a shell): nothing to leave
    os.setpgid(0, 0)
    _die_with_parent(signal.SIGINT)


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child in its own session: the terminal's Ctrl-C reaches only ``ponte dev``, which then
    stops the children once, in order, instead of every process getting it at the same time."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        args, env=env, start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None
    )


class GatewayServer(uvicorn.Server):
    """uvicorn's server, but one Ctrl-C is one graceful stop: ``uv run`` forwards the terminal's
    SIGINT to its child, so the gateway gets it twice at once, and uvicorn takes a second
    signal as "force exit", which cancels the shutdown mid-way and prints its traceback."""

    first_exit = 0.0

    def handle_exit(self, sig: int, frame: Any) -> None:
        now = time.monotonic()
        if self.should_exit and now - self.first_exit < 2.0:
            return
        self.first_exit = self.first_exit or now
        super().handle_exit(sig, frame)


def run_dev(*, port: int, sandbox_port: int, data_dir: Path) -> None:
    from gateway import migrate

    settings = get_settings()
    own_process_group()
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
            # The egress guard lets the partners through to exactly the sandbox, over plain http.
            "PONTE_EGRESS_ALLOW": f"127.0.0.1:{sandbox_port}",
            "PONTE_EGRESS_ALLOW_HTTP": "true",
            "PONTE_LOG_FORMAT": os.environ.get("PONTE_LOG_FORMAT", "console"),
        }
        os.environ.update(env)
        get_settings.cache_clear()
        env_file = write_env(
            data_dir,
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "PONTE_URL": gateway_url,
                "PONTE_SANDBOX_URL": sandbox_url,
                "PONTE_KEY": demo_key,
                "PONTE_OPERATOR_KEY": operator_key,
                "PONTE_SECRET_KEY": env["PONTE_SECRET_KEY"],
                "PONTE_DATA_DIR": str(data_dir.resolve()),
            },
        )
        children.append(_child([sys.executable, "-m", "sandbox", "--port", str(sandbox_port)], env))
        children.append(_child([sys.executable, "-m", "gateway.cli", "worker"], env))
        click.echo(
            f"""
Ponte is running.
  API         {gateway_url}/v1
  Docs        {gateway_url}/docs  (Swagger: {gateway_url}/docs/swagger)
  Health      {gateway_url}/health/ready     Metrics {gateway_url}/metrics
  Sandbox     {sandbox_url}  (simulated insurers, core system, client portal, Boavista)
  Demo key    {demo_key}
  Operator    {operator_key}
  Data        {data_dir.resolve()}
In another terminal, every `ponte` command finds this stack through {env_file}; for curl:
  . {env_file}
  curl -H "Authorization: Bearer $PONTE_KEY" $PONTE_URL/v1/tasks
Ctrl-C stops everything.
"""
        )
        config = uvicorn.Config(APP, factory=True, host="127.0.0.1", port=port, **server_options())
        GatewayServer(config).run()
    finally:
        env_path(data_dir).unlink(missing_ok=True)
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()
