"""The ``ponte`` command: run the platform, migrate, manage tenants and keys, export OpenAPI."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from gateway.clitools import PonteGroup, database_url
from gateway.devenv import load_env
from gateway.settings import get_settings


@click.group(
    cls=PonteGroup,
    help=(
        "Ponte: integration gateway. Configuration comes from the environment (see README); "
        "every command but `dev` also reads .ponte/env, which a running `ponte dev` writes, "
        "for the variables the environment does not set."
    ),
)
@click.pass_context
def main(ctx: click.Context) -> None:
    if ctx.invoked_subcommand != "dev":
        load_env()
        get_settings.cache_clear()


@main.command(help="Everything on this machine: embedded PostgreSQL and Valkey, migrations, gateway, worker, sandbox.")
@click.option("--port", default=8000, show_default=True, help="Gateway port (the API, docs and console)")
@click.option("--sandbox-port", default=8090, show_default=True, help="Partner sandbox port")
@click.option("--data-dir", default=None, help="Where dev data persists (default .ponte/)")
def dev(port: int, sandbox_port: int, data_dir: str | None) -> None:
    from gateway.devserver import check_ports, run_dev

    check_ports(port=port, sandbox_port=sandbox_port)
    with contextlib.suppress(KeyboardInterrupt):
        run_dev(port=port, sandbox_port=sandbox_port, data_dir=Path(data_dir or get_settings().data_dir))
    click.echo("Ponte stopped.")


@main.command(help="Run the HTTP gateway (production: behind a load balancer, N of them).")
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104 - a server binds where it is told
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes")
def api(host: str, port: int, workers: int) -> None:
    from gateway.server import serve

    serve(host=host, port=port, workers=workers)


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

    url = database_url()
    if direction == "upgrade":
        m.upgrade(url, revision or "head")
    else:
        m.downgrade(url, revision or "base")
    click.echo(f"migrations: {direction} to {revision or ('head' if direction == 'upgrade' else 'base')} done")


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


def _add_commands() -> None:
    from gateway.demo import demo
    from gateway.imports.cli import imports
    from gateway.tasks.cli import tasks
    from gateway.tenants.cli import keys, tenants
    from gateway.webhooks.cli import webhooks

    for command in (tenants, keys, tasks, imports, webhooks, demo):
        main.add_command(command)


_add_commands()


if __name__ == "__main__":
    main()
