"""``ponte imports``: launch an insurer import through the REST API and follow its progress.

It talks to a running gateway with a tenant key, exactly like any third-party system
(PONTE_URL and PONTE_KEY, which ``ponte dev`` writes to ``.ponte/env``)::

    ponte imports connections
    ponte imports launch CONNECTION_ID --from 2026-07-01 --to 2026-07-31
    ponte imports follow TASK_ID
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from gateway.clitools import Api, api_options, open_api

FINISHED = {"succeeded", "partially_succeeded", "failed", "cancelled"}


def _line(task: dict[str, Any]) -> str:
    p, r = task["counters"]["policies"], task["counters"]["receipts"]
    done, total = task["progress"]["done"], task["progress"]["total"]
    window = f"window {done}/{total}" if total else "starting"
    return (
        f"{task['id']} {task['status']:<19} {window:<12} policies +{p['created']} ~{p['updated']} ={p['unchanged']} "
        f"stale {p['stale_skipped']} failed {p['failed']} | receipts +{r['created']} ~{r['updated']} ={r['unchanged']} "
        f"stale {r['stale_skipped']} failed {r['failed']}"
    )


def follow_tasks(client: Api, task_ids: list[str], interval: float) -> bool:
    """Print progress until every task finished; True if none failed."""
    pending, ok = list(task_ids), True
    last: dict[str, str] = {}
    while pending:
        for task_id in list(pending):
            task = client.call("GET", f"/v1/imports/{task_id}")
            line = _line(task)
            if last.get(task_id) != line:
                click.echo(line)
                last[task_id] = line
            if task["status"] in FINISHED:
                pending.remove(task_id)
                ok = ok and task["status"] != "failed"
                if task["error"]:
                    click.echo(f"  error {task['error_code']}: {task['error']}")
        if pending:
            time.sleep(interval)
    return ok


@click.group(help="Insurer imports: list connections, launch an import, follow its progress.")
@api_options
@click.pass_context
def imports(ctx: click.Context, url: str, key: str) -> None:
    ctx.obj = open_api(ctx, url, key)


@imports.command(help="The tenant's insurer connections.")
@click.pass_obj
def connections(client: Api) -> None:
    for c in client.call("GET", "/v1/insurer-connections", params={"limit": 500})["items"]:
        state = "enabled" if c["enabled"] else "disabled"
        click.echo(f"{c['id']} {c['insurer']:<24} {state:<8} covered until {c['covered_until'] or '-'}")


@imports.command(help="Launch a manual import of a period (or of one --policy) and follow it.")
@click.argument("connection_id")
@click.option("--from", "start", help="First day, YYYY-MM-DD")
@click.option("--to", "end", help="Last day, YYYY-MM-DD")
@click.option("--policy", help="Import only this policy number (its current state)")
@click.option("--follow/--no-follow", default=True, show_default=True)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between progress checks")
@click.pass_obj
def launch(
    client: Api,
    connection_id: str,
    start: str | None,
    end: str | None,
    policy: str | None,
    follow: bool,
    interval: float,
) -> None:
    if policy:
        body: dict[str, Any] = {"policy_number": policy}
    elif start and end:
        body = {"period": {"from": start, "to": end}}
    else:
        raise click.UsageError("give --from and --to, or --policy")
    launched = client.call("POST", f"/v1/insurer-connections/{connection_id}/imports", json=body)
    tasks = [launched["task"], *launched["chained"]]
    click.echo(f"launched {launched['task']['id']} ({len(launched['task']['windows']) or 1} window(s))")
    if launched["chain_reason"]:
        click.echo(f"chained {len(launched['chained'])} task(s) up to today: {launched['chain_reason']}")
    if follow and not follow_tasks(client, [t["id"] for t in tasks], interval):
        sys.exit(1)


@imports.command(help="Follow import tasks until they finish (exit 1 if one failed).")
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--interval", default=1.0, show_default=True)
@click.pass_obj
def follow(client: Api, task_ids: tuple[str, ...], interval: float) -> None:
    if not follow_tasks(client, list(task_ids), interval):
        sys.exit(1)
