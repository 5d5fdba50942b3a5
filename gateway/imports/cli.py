"""``ponte imports``: launch an insurer import through the REST API and follow its progress.

It talks to a running gateway with a tenant key, exactly like any third-party system::

    ponte imports connections --key $KEY
    ponte imports launch CONNECTION_ID --from 2026-07-01 --to 2026-07-31 --key $KEY
    ponte imports follow TASK_ID --key $KEY
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click
import httpx

FINISHED = {"succeeded", "partially_succeeded", "failed", "cancelled"}


def make_client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.is_error:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text}
        fields = "; ".join(f"{e['pointer']}: {e['detail']}" for e in problem.get("errors") or [])
        raise click.ClickException(
            f"{response.status_code} {problem.get('detail')}{' (' + fields + ')' if fields else ''}"
        )
    return response.json()


def _line(task: dict[str, Any]) -> str:
    p, r = task["counters"]["policies"], task["counters"]["receipts"]
    done, total = task["progress"]["done"], task["progress"]["total"]
    window = f"window {done}/{total}" if total else "starting"
    return (
        f"{task['id']} {task['status']:<19} {window:<12} policies +{p['created']} ~{p['updated']} ={p['unchanged']} "
        f"stale {p['stale_skipped']} failed {p['failed']} | receipts +{r['created']} ~{r['updated']} ={r['unchanged']} "
        f"stale {r['stale_skipped']} failed {r['failed']}"
    )


def follow_tasks(client: httpx.Client, task_ids: list[str], interval: float) -> bool:
    """Print progress until every task finished; True if none failed."""
    pending, ok = list(task_ids), True
    last: dict[str, str] = {}
    while pending:
        for task_id in list(pending):
            task = _call(client, "GET", f"/v1/imports/{task_id}")
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
@click.option("--url", envvar="PONTE_URL", default="http://127.0.0.1:8000", show_default=True, help="Gateway URL")
@click.option("--key", envvar="PONTE_API_KEY", required=True, help="Tenant API key (or PONTE_API_KEY)")
@click.pass_context
def imports(ctx: click.Context, url: str, key: str) -> None:
    ctx.obj = ctx.with_resource(make_client(url, key))


@imports.command(help="The tenant's insurer connections.")
@click.pass_obj
def connections(client: httpx.Client) -> None:
    for c in _call(client, "GET", "/v1/insurer-connections", params={"limit": 500})["items"]:
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
    client: httpx.Client,
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
    launched = _call(client, "POST", f"/v1/insurer-connections/{connection_id}/imports", json=body)
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
def follow(client: httpx.Client, task_ids: tuple[str, ...], interval: float) -> None:
    if not follow_tasks(client, list(task_ids), interval):
        sys.exit(1)
