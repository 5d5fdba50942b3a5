"""Insurer import: ~100,000 policies with ~300,000 receipts from the sandbox, over REST and SOAP.

An ``import.run`` task runs in a real worker process (``ponte worker``) started by the stack;
the figures are policy records per second (each carries its receipts), timed from the task's
own ``started_at``/``finished_at``; the CPU per 1,000 policies of the worker, of this process
(the sandbox serves the insurers from a thread in it) and of PostgreSQL; and the worker's peak
RSS after a small import and after each big one (flat = pages are streamed). The ceiling is a
raw bulk upsert of the same number of rows, same shape, into the same tables, in the same run:
asyncpg ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` in page-sized transactions,
rows pre-generated. It runs twice after the imports (not between them: autovacuum would work
on its rows during the next import), with new keys each time, and the ceiling is the mean of
the two: a single run of it moved between 6,000 and 9,100 policies/s from one benchmark run
to the next.

The sandbox lists the policies that changed in the window asked; about a third of a portfolio
changes in 16 days, so the portfolio is sized ~3x the target and one 16-day window is read.

Run: ``uv run python -m bench.insurer_import [--scale 0.1] [--soap-scale 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
from sqlalchemy import select

from bench.common import BenchStack, Report, cpu_seconds, peak_rss_mb, postgres_pid, tree_cpu_seconds
from gateway.imports import connections, schemas
from gateway.imports.service import create_import, period_params
from gateway.tasks.models import FINISHED, Task

TARGET_POLICIES = 100_000
SHARE_CHANGED_IN_16_DAYS = 0.336  # measured on the sandbox's generator (warta and allianz alike)
WINDOW_DAYS = 16


async def import_once(stack: BenchStack, insurer: str, start: date, end: date) -> Task:
    runtime = stack.runtime
    async with runtime.db.unit_of_work(runtime.queue) as session:
        conn = await connections.find_connection(session, stack.tenant.tenant_id, insurer)
        if conn is None:
            data = schemas.ConnectionCreate(
                insurer=insurer,
                credentials=schemas.Credentials(username="bench", password="sandbox"),
                options={"product": "property"} if insurer == "warta" else {},
                # No daily schedule: past its time, the cron would start a scheduled import of
                # the same connection beside the one timed here (and both would count).
                schedule=schemas.Schedule(enabled=False),
            )
            conn = await connections.create_connection(session, runtime, stack.tenant.tenant_id, data)
        task, _ = await create_import(session, conn, trigger="manual_period", params=period_params(start, end, 31))
    while True:
        await asyncio.sleep(0.5)
        async with runtime.db.sessionmaker() as session:
            done = (await session.scalars(select(Task).where(Task.id == task.id))).one()
        if done.status in FINISHED:
            return done


class CpuMeter:
    """CPU used by the worker, this process (the sandbox's thread serves the insurers) and
    PostgreSQL (postmaster and backends) while one import runs."""

    def __init__(self, stack: BenchStack, worker_pid: int) -> None:
        self.pids = {"worker": worker_pid, "sandbox": os.getpid()}
        self.postgres = postgres_pid(stack)

    def now(self) -> dict[str, float]:
        used = {role: cpu_seconds(pid) for role, pid in self.pids.items()}
        if self.postgres is not None:
            used["postgres"] = tree_cpu_seconds(self.postgres)
        return used

    async def measure(self, run: Awaitable[Task]) -> tuple[Task, dict[str, float]]:
        before = self.now()
        task = await run
        return task, {role: used - before[role] for role, used in self.now().items()}


def cpu_line(report: Report, name: str, used: dict[str, float], policies: int) -> None:
    per = ", ".join(f"{role} {s / max(policies, 1) * 1000:.2f} s" for role, s in used.items())
    report.line(f"{name} CPU per 1,000 policies: {per} (load average {os.getloadavg()[0]:.2f})")


def seconds(task: Task) -> float:
    assert task.started_at and task.finished_at
    return (task.finished_at - task.started_at).total_seconds()


POLICY_UPSERT = """
INSERT INTO policies (id, tenant_id, insurer, policy_number, product, status, holder_name, holder_tax_id,
    holder_tax_id_type, start_date, end_date, premium_cents, currency, updated_on, as_of, content_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (tenant_id, insurer, policy_number) DO UPDATE SET product = excluded.product,
    status = excluded.status, premium_cents = excluded.premium_cents, as_of = excluded.as_of,
    content_hash = excluded.content_hash
"""
RECEIPT_UPSERT = """
INSERT INTO policy_receipts (id, tenant_id, insurer, receipt_number, policy_number, due_date, amount_cents,
    currency, status, status_changed_on, as_of, content_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (tenant_id, insurer, receipt_number) DO UPDATE SET status = excluded.status,
    as_of = excluded.as_of, content_hash = excluded.content_hash
"""


async def raw_upsert(
    database_url: str, tenant_id: uuid.UUID, policies: int, receipts_per_policy: float, run: str
) -> float:
    """Policies per second for a raw bulk upsert of pre-generated rows (the ceiling); ``run``
    makes the keys new each time."""
    now, today = datetime.now(UTC), date.today()
    per = max(1, round(receipts_per_policy))
    rows = [
        (uuid.uuid4(), tenant_id, "raw", f"RAW{run}-{i:07d}", "Automóvel", "active", "Ana Silva", "123456789", "NIF",
         today, today, 12345, "EUR", today, now, hashlib.blake2b(str(i).encode(), digest_size=16).digest())
        for i in range(policies)
    ]  # fmt: skip
    receipts = [
        (uuid.uuid4(), tenant_id, "raw", f"RAWR{run}{i:07d}{k}", f"RAW{run}-{i:07d}", today, 4115, "EUR", "paid",
         today, now, hashlib.blake2b(f"{i}{k}".encode(), digest_size=16).digest())
        for i in range(policies) for k in range(per)
    ]  # fmt: skip
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        started = time.perf_counter()
        page = 500
        for i in range(0, policies, page):
            async with conn.transaction():
                await conn.executemany(POLICY_UPSERT, rows[i : i + page])
                await conn.executemany(RECEIPT_UPSERT, receipts[i * per : (i + page) * per])
        return policies / (time.perf_counter() - started)
    finally:
        await conn.close()


def line(report: Report, name: str, task: Task) -> tuple[int, int]:
    c = task.counters
    policies = sum(c.get(f"policies_{k}", 0) for k in ("created", "updated", "unchanged", "stale_skipped", "failed"))
    receipts = sum(c.get(f"receipts_{k}", 0) for k in ("created", "updated", "unchanged", "stale_skipped", "failed"))
    report.line(f"{name}: {task.status}, {policies:,} policies, {receipts:,} receipts in {seconds(task):.1f} s")
    return policies, receipts


def portfolio_for(scale: float) -> int:
    return max(1000, int(TARGET_POLICIES * scale / SHARE_CHANGED_IN_16_DAYS))


async def main(scale: float, soap_scale: float) -> None:
    today = datetime.now(UTC).date()
    window = (today - timedelta(days=WINDOW_DAYS - 1), today)
    async with BenchStack() as stack:
        assert stack.sandbox is not None
        config = f"{stack.sandbox.url}/insurers/_config/"

        def size(scale: float) -> None:
            httpx.put(
                config, json={"policies_per_insurer": portfolio_for(scale), "receipts_per_policy": 3}
            ).raise_for_status()

        [worker] = stack.start_workers(1)
        report = Report(
            f"Insurer import, 1 worker process, one {WINDOW_DAYS}-day window (REST scale {scale}, SOAP {soap_scale})"
        )
        size(scale / 20)  # a small REST import first: the memory baseline
        line(report, "REST tuz (warm-up, 1/20 of the size)", await import_once(stack, "tuz", *window))
        rss_small = peak_rss_mb(worker.pid)

        cpu = CpuMeter(stack, worker.pid)
        size(scale)
        rest, rest_cpu = await cpu.measure(import_once(stack, "warta", *window))
        rest_policies, rest_receipts = line(report, "REST warta", rest)
        cpu_line(report, "REST", rest_cpu, rest_policies)
        rss_rest = peak_rss_mb(worker.pid)

        size(soap_scale)
        soap, soap_cpu = await cpu.measure(import_once(stack, "allianz", *window))
        soap_policies, _ = line(report, "SOAP allianz (zeep)", soap)
        cpu_line(report, "SOAP", soap_cpu, soap_policies)
        rss_soap = peak_rss_mb(worker.pid)

        per_policy = rest_receipts / max(rest_policies, 1)
        url, tenant_id = stack.settings.database_url, stack.tenant.tenant_id
        raw = [await raw_upsert(url, tenant_id, rest_policies, per_policy, run) for run in "AB"]
        ceiling = sum(raw) / len(raw)
        report.line(f"raw bulk upsert, twice: {raw[0]:,.0f}, {raw[1]:,.0f} policies/s")
        report.figure("raw bulk upsert (ceiling, their mean)", ceiling, "policies/s")
        report.figure("REST import", rest_policies / seconds(rest), "policies/s")
        report.figure("SOAP import", soap_policies / seconds(soap), "policies/s")
        report.ratio("REST import / raw upsert", rest_policies / seconds(rest), ceiling, target=0.3, unit="policies/s")
        report.ratio("SOAP import / raw upsert", soap_policies / seconds(soap), ceiling, target=0.3, unit="policies/s")
        report.figure("worker peak RSS after warm-up", rss_small, "MiB")
        report.figure("worker peak RSS after REST", rss_rest, "MiB")
        report.figure("worker peak RSS after SOAP", rss_soap, "MiB")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 100,000 policies (REST)")
    parser.add_argument("--soap-scale", type=float, default=None, help="the same for SOAP (default: --scale)")
    args = parser.parse_args()
    asyncio.run(main(args.scale, args.soap_scale if args.soap_scale is not None else args.scale))


if __name__ == "__main__":
    cli()
