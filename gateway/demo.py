"""``ponte demo``: the four capabilities once, end to end, against the sandbox.

It does what the README walkthroughs do, through the same REST API and with the demo key of a
running ``ponte dev`` (``.ponte/env``), then prints what happened and where to look. Every step
is get-or-create, so it can be run again and again.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
import httpx
from standardwebhooks import Webhook

from gateway.clitools import Api, api_options, open_api
from gateway.tasks.cli import FINISHED, failures_path

SANDBOX_URL = "http://127.0.0.1:8090"


def wait_task(api: Api, task_id: str, *, timeout: float = 45.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = api.call("GET", f"/v1/tasks/{task_id}")
        if task["status"] in FINISHED or time.monotonic() > deadline:
            return task
        time.sleep(0.3)


def _counted(task: dict[str, Any]) -> str:
    shown = ", ".join(f"{k} {v}" for k, v in sorted(task["counters"].items()) if isinstance(v, int) and v)
    return f"{task['status']}{' (' + shown + ')' if shown else ''}"


def insurer_import(api: Api) -> list[str]:
    created = api.http.post(
        "/v1/insurer-connections",
        json={"insurer": "allianz", "credentials": {"username": "demo", "password": "sandbox"}},
    )
    body = created.json()
    connection = body["id"] if created.status_code == 201 else body.get("connection_id")
    if not connection:
        raise click.ClickException(f"insurer connection: {created.status_code} {body.get('detail')}")
    end = date.today() - timedelta(days=1)
    period = {"from": (end - timedelta(days=6)).isoformat(), "to": end.isoformat()}
    launched = api.call("POST", f"/v1/insurer-connections/{connection}/imports", json={"period": period})
    tasks = [launched["task"], *launched["chained"]]
    finished = [wait_task(api, t["id"]) for t in tasks]
    task = finished[0]
    return [
        f"Allianz import {period['from']}..{period['to']}: {_counted(task)}",
        f"  {api.url}/v1/imports/{task['id']}/results   (and results.csv)",
        *([f"  failed records: {api.url}{failures_path(task)}"] if task["status"] != "succeeded" else []),
    ]


def portal_sync(api: Api) -> list[str]:
    api.call("PUT", "/v1/portal/connection", json={"token": "sandbox-demo"})
    api.call("POST", "/v1/portal/connection/check")
    started = api.http.post("/v1/portal/syncs/beneficiary.plan/runs")
    body = started.json()
    run = body.get("id") or body.get("running_task_id")
    if not run:
        raise click.ClickException(f"portal sync: {started.status_code} {body.get('detail')}")
    task = wait_task(api, run)
    return [f"Portal sync beneficiary.plan: {_counted(task)}", f"  {api.url}/v1/portal/runs/{run}"]


def document_delivery(api: Api, sandbox_url: str) -> list[str]:
    api.call(
        "PUT",
        "/v1/document-portal/integration",
        json={"enabled": True, "token": "ptk_demo", "apply_default_folders": True},
    )
    endpoint = api.call("POST", "/v1/webhook-endpoints", json={"source": "task-system", "description": "ponte demo"})
    now = datetime.now(UTC)
    document = {
        "id": f"demo-{uuid.uuid4().hex[:8]}",
        "template": "DAS",
        "file_name": f"DAS {now:%Y-%m}.pdf",
        "content_base64": base64.b64encode(b"%PDF-1.4 ponte demo").decode(),
    }
    data = {
        "task_id": f"T-{uuid.uuid4().hex[:8]}",
        "client_id": "cli-1",
        "completed_at": now.isoformat(),
        "documents": [document],
    }
    body = msgspec_json({"type": "task.completed", "timestamp": now.isoformat(), "data": data})
    message = f"msg_{uuid.uuid4().hex}"
    headers = {
        "webhook-id": message,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint["secret"]).sign(message, now, body),
        "content-type": "application/json",
    }
    accepted = api.http.post(endpoint["url"], content=body, headers=headers)
    if accepted.status_code != 202:
        raise click.ClickException(f"task.completed: {accepted.status_code} {accepted.text[:200]}")
    event = accepted.json()["id"]
    deadline = time.monotonic() + 30
    deliveries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        deliveries = api.call("GET", "/v1/document-deliveries", params={"limit": 50})["items"]
        mine = [d for d in deliveries if d.get("document_id") == document["id"]]
        if mine and all(d["status"] not in ("queued", "delivering") for d in mine):
            deliveries = mine
            break
        time.sleep(0.3)
    status = ", ".join(f"{d['file_name']} {d['status']}" for d in deliveries) or "not delivered yet"
    return [
        f"Document delivery (event {event}): {status}",
        f"  {api.url}/v1/document-deliveries   the portal's files: {sandbox_url}/portal/_files?firm=demo",
    ]


def reconciliation(api: Api, sandbox_url: str) -> list[str]:
    boavista = f"{sandbox_url}/boavista"
    establishment = httpx.get(f"{boavista}/_establishments", timeout=10).json()[0]
    code = establishment["establishment_code"]
    api.call(
        "PUT",
        "/v1/reconciliation/establishment",
        json={"enabled": True, "establishment_code": code, "api_token": establishment["token"]},
    )
    day = (datetime.now(ZoneInfo("America/Sao_Paulo")).date() - timedelta(days=1)).isoformat()
    sales = httpx.get(f"{boavista}/_erp_sales/{code}", params={"day": day, "limit": 1000}, timeout=30).json()["items"]
    api.call("POST", "/v1/reconciliation/sales", json={"items": sales})
    started = api.http.post("/v1/reconciliation/runs")
    body = started.json()
    run = body.get("id") or body.get("task_id")
    if run:
        wait_task(api, run)
    # Boavista's return comes back as a signed webhook a moment after the remittance.
    deadline = time.monotonic() + 20
    while True:
        summary = api.call("GET", "/v1/reconciliation/summary", params={"day": day})
        counts = {row["status"]: row["count"] for row in summary["by_status"]}
        if not counts.get("sent") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    shown = ", ".join(f"{status} {count}" for status, count in counts.items() if count)
    return [
        f"Reconciliation of {day}: {len(sales)} sales posted; {shown}",
        f"  {api.url}/v1/reconciliation/divergences   {api.url}/v1/reconciliation/summary?day={day}",
    ]


def msgspec_json(value: Any) -> str:
    import msgspec

    return msgspec.json.encode(value).decode()


@click.command(help="Run the four capabilities once against the sandbox and report (needs `ponte dev`).")
@api_options
@click.option("--sandbox-url", envvar="PONTE_SANDBOX_URL", default=SANDBOX_URL, show_default=True)
@click.pass_context
def demo(ctx: click.Context, url: str, key: str, sandbox_url: str) -> None:
    api = open_api(ctx, url, key)
    started = time.monotonic()
    steps: list[tuple[str, Callable[[], list[str]]]] = [
        ("insurer import", lambda: insurer_import(api)),
        ("portal sync", lambda: portal_sync(api)),
        ("document delivery", lambda: document_delivery(api, sandbox_url)),
        ("card reconciliation", lambda: reconciliation(api, sandbox_url)),
    ]
    for name, step in steps:
        click.echo(f"… {name}", err=True)
        for line in step():
            click.echo(line)
    click.echo(
        f"\nDone in {time.monotonic() - started:.0f} s. Look around:\n"
        f"  tasks    {api.url}/v1/tasks  (or `ponte tasks list`)\n"
        f"  docs     {api.url}/docs\n"
        f"  console  {api.url}/console\n"
        f"  metrics  {api.url}/metrics"
    )
