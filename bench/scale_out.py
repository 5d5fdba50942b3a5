"""Scale-out: the same work with 1, 2 and 4 worker processes on one PostgreSQL and one Valkey.

Each round gets a fresh tenant whose task system posts the same number of signed
task-completed events (each with a few documents) through one gateway process; the worker
processes turn them into deliveries to the client portal (a sandbox in its own process). A
round is timed from the first post to the last delivery, with its workers already polling.
Before the clock starts, each round's workers deliver a few events of the same tenant
(``warm_up``), so their one-time start-up costs are not read as a scale-out loss; the
duplicate check covers those deliveries too. Prints
deliveries/s per worker count, the speed-up over one worker, and that speed-up against
the ideal on this machine: min(workers, cores available to this process), and the bound the
whole stack's CPU per delivery puts on any worker count (cores / CPU per delivery). Each round also
prints the CPU each process spent per delivery (workers, gateway, portal, this process,
PostgreSQL with its backends) and how busy the workers kept the cores they could use: the
work is the workers' (about two thirds of the CPU), so a speed-up needs cores nobody else is
using. Then checks that no round doubled anything: one delivery and one portal file (one
version) per document.

Run: ``uv run python -m bench.scale_out [--events 1000] [--docs 5] [--workers 1,2,4]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text
from standardwebhooks import Webhook

from bench.common import (
    BenchStack,
    Report,
    cpu_seconds,
    http_load,
    postgres_pid,
    signed_webhook_request,
    tree_cpu_seconds,
)
from bench.document_delivery import portal_process
from gateway.documents import integration, schemas
from gateway.tenants import service as tenants
from gateway.webhooks import service as webhooks

DOC_BYTES = 2048


def events_for(
    round_no: int, host: str, endpoint_id: str, secret: str, events: int, docs: int, first: int = 0
) -> list[bytes]:
    signer, now = Webhook(secret), datetime.now(UTC)
    out = []
    for e in range(first, first + events):
        documents = [
            {
                "id": f"doc-{e}-{i}",
                "template": "DAS",
                "file_name": f"DAS {e:04d}-{i}.pdf",
                "content_base64": base64.b64encode(
                    f"%PDF {round_no} {e} {i} ".encode().ljust(DOC_BYTES, b".")
                ).decode(),
            }
            for i in range(docs)
        ]
        data = {
            "task_id": f"T-{e}",
            "client_id": f"scale-c{e % 20:02d}",
            "employee": "bench",
            "completed_at": now.isoformat(),
            "documents": documents,
        }
        out.append(signed_webhook_request(host, endpoint_id, signer, f"msg_scale_{e}", "task.completed", data, now))
    return out


async def new_tenant(stack: BenchStack, portal: str, firm: str) -> tuple[Any, str, str]:
    """A tenant with the portal integration on (its own firm) and a task-system endpoint."""
    rt = stack.runtime
    async with rt.db.unit_of_work() as session:
        tenant = await tenants.create_tenant(session, name=firm, slug=firm)
    async with rt.db.unit_of_work() as session:
        update = schemas.PortalIntegrationUpdate(
            enabled=True, token=f"ptk_{firm}", base_url=portal, apply_default_folders=True
        )
        await integration.update_integration(session, tenant.id, update, rt)
        endpoint, secret = await webhooks.create_endpoint(
            session, rt.cipher, tenant_id=tenant.id, source="task-system", description="bench"
        )
    return tenant.id, str(endpoint.id), secret


async def valkey_clients(stack: BenchStack) -> int:
    return len(await stack.runtime.queue.redis.client_list())


async def start_polling_workers(stack: BenchStack, n: int) -> list[Any]:
    """Start ``n`` workers and wait until each has its queue connections (arq's and the
    runtime's): their boot is not delivery time."""
    before = await valkey_clients(stack)
    procs = stack.start_workers(n)
    deadline = time.monotonic() + 120
    while await valkey_clients(stack) < before + 2 * n:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    return procs


async def warm_up(stack: BenchStack, url: str, endpoint_id: str, secret: str, workers: int, docs: int) -> int:
    """Deliver a few events of the round's tenant before the clock starts; returns how many
    documents they carried.

    A worker's first jobs pay what a long-running worker pays once: its pooled connections
    (PostgreSQL backends, asyncpg's type introspection, prepared statements), SQLAlchemy's
    statement compilation, the portal session and folder listings of the tenant's clients.
    Left in the timed round, that fixed cost per process grows with the worker count and reads
    as a scale-out loss. Posted one at a time, each event is its own intake batch, so the
    processing jobs spread over the workers; 20 per worker cover the 20 clients' folders.
    """
    events = 20 * workers
    first = 1_000_000  # numbered after the round's own events: other ids, other file names
    requests = events_for(0, url.removeprefix("http://"), endpoint_id, secret, events, docs, first)
    posted = await http_load(url, requests, count=len(requests), concurrency=1)
    assert posted.statuses == {202: len(requests)}, posted.statuses
    return events * docs


async def until_delivered(stack: BenchStack, tenant_id: Any, expected: int, workers: int) -> None:
    deadline = time.monotonic() + 1800
    while (counts := await delivered(stack, tenant_id)).get("delivered", 0) < expected:
        if time.monotonic() > deadline or counts.get("failed"):
            raise SystemExit(f"{workers} workers: deliveries stuck at {counts}")
        await asyncio.sleep(0.2)


def stop(procs: list[Any]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


async def delivered(stack: BenchStack, tenant_id: Any) -> dict[str, int]:
    async with stack.runtime.db.engine.connect() as conn:
        sql = "SELECT status, count(*) FROM document_deliveries WHERE tenant_id = :t GROUP BY status"
        return dict((await conn.execute(text(sql), {"t": tenant_id})).all())  # type: ignore[arg-type]


async def tasks_done(stack: BenchStack, tenant_id: Any) -> None:
    sql = "SELECT count(*) FROM tasks WHERE tenant_id = :t AND status IN ('queued', 'running')"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        async with stack.runtime.db.engine.connect() as conn:
            if not (await conn.execute(text(sql), {"t": tenant_id})).scalar_one():
                return
        await asyncio.sleep(0.2)


async def duplicates(stack: BenchStack, sandbox_url: str, tenant_id: Any, firm: str, total: int) -> list[str]:
    """What this round doubled or missed: deliveries per document, files and versions in the portal."""
    problems = []
    async with stack.runtime.db.engine.connect() as conn:
        sql = "SELECT count(*), count(DISTINCT (event_id, document_id)) FROM document_deliveries WHERE tenant_id = :t"
        rows, distinct = (await conn.execute(text(sql), {"t": tenant_id})).one()
    if rows != distinct or rows != total:
        problems.append(f"{rows} deliveries, {distinct} distinct, for {total} documents")
    async with httpx.AsyncClient(timeout=60) as http:
        files = (await http.get(f"{sandbox_url}/portal/_files", params={"firm": firm})).json()["items"]
    names = [f["name"] for f in files]
    if len(names) != total or len(set(names)) != total:
        problems.append(f"portal holds {len(names)} files ({len(set(names))} names) for {total} documents")
    versions = sum(f["version_count"] - 1 for f in files)
    if versions:
        problems.append(f"{versions} documents uploaded more than once")
    return problems


@dataclass
class Round:
    rate: float  # deliveries/s
    problems: list[str]
    cpu_ms: dict[str, float]  # CPU per delivery, by process role
    workers_busy: float  # share of the cores the workers could use that they did use


async def run_round(
    stack: BenchStack, url: str, sandbox_url: str, workers: int, events: int, docs: int, others: dict[str, int]
) -> Round:
    firm = f"scale-{workers}w-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tenant_id, endpoint_id, secret = await new_tenant(stack, f"{sandbox_url}/portal", firm)
    requests = events_for(workers, url.removeprefix("http://"), endpoint_id, secret, events, docs)
    total = events * docs
    procs = await start_polling_workers(stack, workers)
    pids = {"workers": [p.pid for p in procs]} | {role: [pid] for role, pid in others.items()}

    def cpu() -> dict[str, float]:
        used = {role: sum(cpu_seconds(pid) for pid in role_pids) for role, role_pids in pids.items()}
        if (postgres := postgres_pid(stack)) is not None:
            used["postgres"] = tree_cpu_seconds(postgres)
        return used

    try:
        warm = await warm_up(stack, url, endpoint_id, secret, workers, docs)
        await until_delivered(stack, tenant_id, warm, workers)
        cpu_before = cpu()
        started = time.perf_counter()
        posted = await http_load(url, requests, count=len(requests), concurrency=8)
        assert posted.statuses == {202: len(requests)}, posted.statuses
        await until_delivered(stack, tenant_id, warm + total, workers)
        seconds = time.perf_counter() - started
        spent = {role: used - cpu_before[role] for role, used in cpu().items()}
        await tasks_done(stack, tenant_id)  # stopping a worker mid-task would only add retries
    finally:
        stop(procs)
    cores = min(workers, len(os.sched_getaffinity(0)))
    return Round(
        total / seconds,
        await duplicates(stack, sandbox_url, tenant_id, firm, warm + total),
        {role: used / total * 1000 for role, used in spent.items()},
        spent["workers"] / (seconds * cores),
    )


async def main(events: int, docs: int, counts: list[int], concurrency: int) -> None:
    cores = len(os.sched_getaffinity(0))
    async with BenchStack(worker_concurrency=concurrency, api_key_cache_seconds=10) as stack:
        portal_pid: list[int] = []
        with portal_process(portal_pid) as sandbox_url:
            url = stack.start_gateway()
            others = {"gateway": stack.processes[0].pid, "portal": portal_pid[0], "bench": os.getpid()}
            report = Report(
                f"Scale-out: {events * docs} deliveries ({events} events x {docs}) per round, "
                f"{concurrency} jobs per worker, {cores} cores available"
            )
            rates: dict[int, float] = {}
            problems: dict[int, list[str]] = {}
            stack_ms: dict[int, float] = {}  # CPU per delivery of every process together
            for n in counts:
                result = await run_round(stack, url, sandbox_url, n, events, docs, others)
                rates[n], problems[n] = result.rate, result.problems
                stack_ms[n] = sum(result.cpu_ms.values())
                report.figure(f"{n} worker process(es)", rates[n], "deliveries/s")
                report.line(
                    "  CPU per delivery: "
                    + ", ".join(f"{role} {ms:.2f} ms" for role, ms in result.cpu_ms.items())
                    + f"; workers busy {result.workers_busy:.0%} of {min(n, cores)} core(s)"
                )
            base = rates[counts[0]]  # the speed-up is over the first count (1 by default)
            # What the machine allows whatever the worker count: every core busy at the CPU per
            # delivery the whole stack spent in the first round (PostgreSQL, portal, gateway and
            # this load generator share the cores with the workers).
            bound = cores * 1000 / stack_ms[counts[0]]
            report.line(
                f"the whole stack spent {stack_ms[counts[0]]:.2f} ms of CPU per delivery with {counts[0]} worker(s): "
                f"{cores} cores allow at most {bound:,.0f} deliveries/s, a speed-up of {bound / base:.2f}x"
            )
            for n in counts:
                speed_up = rates[n] / base
                ideal = min(n, cores) / min(counts[0], cores)
                report.line(f"{n} workers: speed-up {speed_up:5.2f}x, ideal on {cores} cores {ideal}x")
                report.ratio(f"speed-up / ideal ({n} workers)", speed_up, ideal)
            doubled = {n: p for n, p in problems.items() if p}
            for n, p in doubled.items():
                for line in p:
                    report.line(f"  PROBLEM ({n} workers) {line}")
            if doubled:
                raise SystemExit("duplicates or losses found")
            report.line(
                f"zero duplicates: every round has exactly one delivery and one portal file (one version) "
                f"per document, at {', '.join(map(str, counts))} workers"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--events", type=int, default=1000, help="events per round (a short round is mostly ramp-up and tail)"
    )
    parser.add_argument("--docs", type=int, default=5, help="documents per event")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma separated")
    parser.add_argument("--concurrency", type=int, default=20, help="jobs per worker")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.docs, [int(n) for n in args.workers.split(",")], args.concurrency))
