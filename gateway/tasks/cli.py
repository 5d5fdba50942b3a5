"""``ponte tasks``: every kind of background work, listed and followed through the REST API.

``follow`` draws a progress bar and exits non-zero when the task did not fully succeed,
naming where its failed records are, so a script or a person knows what to look at next.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.clitools import Api, api_options, echo_json, exit_code, open_api

FINISHED = {"succeeded", "partially_succeeded", "failed", "cancelled"}

# Where a task's failed records are listed, by kind.
FAILURES = {
    "import.run": "/v1/imports/{id}/results?outcome=failed",
    "portal.sync": "/v1/portal/runs/{id}/failures",
    "portal.request.export": "/v1/portal/requests?status=failed",
    "documents.deliver": "/v1/document-deliveries?status=failed",
    "reconciliation.run": "/v1/reconciliation/divergences",
    "webhook.process": "/v1/webhook-events?status=failed",
}


def failures_path(task: dict[str, Any]) -> str:
    return FAILURES.get(task["kind"], "/v1/tasks/{id}").format(id=task["id"])


def _counters(task: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in sorted(task["counters"].items()) if value)


def _row(task: dict[str, Any]) -> str:
    done, total = task["progress"]["done"], task["progress"]["total"]
    progress = f"{done}/{total}" if total else str(done)
    return f"{task['id']}  {task['kind']:<22} {task['status']:<19} {progress:>9}  {task['created_at'][:19]}"


@click.group(help="Background tasks of every kind: imports, syncs, deliveries, reconciliation runs, webhooks.")
def tasks() -> None:
    pass


@tasks.command("list", help="The tenant's tasks, newest first.")
@api_options
@click.option("--kind", help="e.g. import.run, portal.sync, documents.deliver, reconciliation.run")
@click.option("--status", type=click.Choice(["queued", "running", *sorted(FINISHED)]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts")
@click.pass_context
def list_tasks(
    ctx: click.Context, url: str, key: str, kind: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    params = {name: value for name, value in (("kind", kind), ("status", status)) if value}
    page = open_api(ctx, url, key).call("GET", "/v1/tasks", params={**params, "limit": limit})
    if as_json:
        echo_json(page["items"])
        return
    for task in page["items"]:
        click.echo(_row(task))


def follow_task(api: Api, task_id: str, *, interval: float, quiet: bool) -> dict[str, Any]:
    """Poll until the task finishes, drawing its progress; returns the finished task."""
    task: dict[str, Any] = api.call("GET", f"/v1/tasks/{task_id}")
    console = Console(stderr=True, quiet=quiet)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        line = bar.add_task(f"{task['kind']} {task['status']}", total=task["progress"]["total"])
        while True:
            bar.update(
                line,
                description=f"{task['kind']} {task['status']}",
                completed=task["progress"]["done"],
                total=task["progress"]["total"],
            )
            if task["status"] in FINISHED:
                return task
            time.sleep(interval)
            task = api.call("GET", f"/v1/tasks/{task_id}")


@tasks.command("follow", help="Follow a task until it finishes; exit 1 unless it succeeded.")
@api_options
@click.argument("task_id", type=click.UUID)
@click.option("--interval", default=0.5, show_default=True, help="Seconds between checks")
@click.option("--json", "as_json", is_flag=True, help="Print the finished task as JSON")
@click.pass_context
def follow(ctx: click.Context, url: str, key: str, task_id: Any, interval: float, as_json: bool) -> None:
    api = open_api(ctx, url, key)
    task = follow_task(api, str(task_id), interval=interval, quiet=as_json)
    if as_json:
        echo_json(task)
    else:
        click.echo(f"{task['status']}  {_counters(task)}".rstrip())
        if task["error"]:
            click.echo(f"error {task['error_code']}: {task['error']}")
    if task["status"] != "succeeded" and not as_json:
        click.echo(f"failed records: {api.url}{failures_path(task)}", err=True)
    exit_code(task["status"] == "succeeded")
