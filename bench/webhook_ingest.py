"""Webhook ingest: signed deliveries at 64 connections against one gateway process.

The ceiling is a bare Litestar hello-world (``bench/bare_app.py``) on the same server with the
same options, measured in the same run; rounds alternate ceiling and ingest, and figures are
medians. Then every event answered 202 is looked up in the inbox: zero lost, zero doubled.
Load comes from wrk when installed (every delivery distinct and signed).

Run: ``uv run python -m bench.webhook_ingest [--seconds S] [--rounds R] [--connections C]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from sqlalchemy import text

from bench.common import BenchStack, Report, cpu_seconds, postgres_pid, tree_cpu_seconds
from bench.load import TOOL, WRK, HttpResult, deliveries_for, load_deliveries, load_get, new_prefix, sign_deliveries
from gateway.webhooks import service

TARGET_RATIO = 0.4
TARGET_P99_MS = 50.0


def remittance_returns(count: int, prefix: str) -> list[dict[str, object]]:
    return [
        {
            "establishment_code": "1020304050",
            "remittance_id": f"{prefix}-{n}",
            "returned_at": "2026-12-01T12:00:00+00:00",
            "items": [{"sale_id": f"S{n}-{i}", "status": "matched"} for i in range(3)],
        }
        for n in range(count)
    ]


async def main(seconds: float, rounds: int, connections: int) -> None:
    async with BenchStack(api_key_cache_seconds=10) as stack:
        async with stack.runtime.db.unit_of_work() as session:
            endpoint, secret = await service.create_endpoint(
                session, stack.runtime.cipher, tenant_id=stack.tenant.tenant_id, source="boavista", description="bench"
            )
        bare = stack.start_bare()
        bare_pid = stack.processes[-1].pid
        ponte = stack.start_gateway()
        ponte_pid, pg_pid = stack.processes[-1].pid, postgres_pid(stack)

        def deliveries(count: int, prefix: str) -> list:  # type: ignore[type-arg]
            datas = remittance_returns(count, prefix)
            return sign_deliveries(endpoint.id, secret, "remittance.returned", datas, f"run{prefix}")

        warm = await load_get(bare, "/ping", seconds=2, connections=connections)
        await load_deliveries(ponte, deliveries(2000, "warm"), seconds=2, connections=connections)

        report = Report(f"Webhook ingest, one process each, {connections} connections, load from {TOOL}")
        ceilings: list[HttpResult] = []
        ingests: list[HttpResult] = []
        prefixes: list[str] = []
        ceiling_rate = warm.rate
        # CPU per answer of each server (and of PostgreSQL for the ingest): unlike the rates,
        # it barely moves when something else on the machine takes a core for a while.
        spent = {"bare": 0.0, "gateway": 0.0, "postgres": 0.0}
        for n in range(rounds):
            before = cpu_seconds(bare_pid)
            ceiling = await load_get(bare, "/ping", seconds=seconds, connections=connections)
            spent["bare"] += cpu_seconds(bare_pid) - before
            ceiling_rate = max(ceiling_rate, ceiling.rate)
            prefix = new_prefix()
            prefixes.append(prefix)
            batch = deliveries(deliveries_for(ceiling_rate, seconds), prefix)
            before, before_pg = cpu_seconds(ponte_pid), tree_cpu_seconds(pg_pid) if pg_pid else 0.0
            ingest = await load_deliveries(ponte, batch, seconds=seconds, connections=connections)
            spent["gateway"] += cpu_seconds(ponte_pid) - before
            spent["postgres"] += tree_cpu_seconds(pg_pid) - before_pg if pg_pid else 0.0
            ceilings.append(ceiling)
            ingests.append(ingest)
            report.line(ceiling.line(f"round {n + 1} bare GET /ping"))
            report.line(ingest.line(f"round {n + 1} POST /v1/webhooks/{{id}}"))
            if ingest.statuses.get(200):
                report.line(f"  ({ingest.statuses[200]} redeliveries: the run outlasted its distinct deliveries)")

        ceiling_rate = statistics.median(r.rate for r in ceilings)
        accepted_rate = statistics.median(r.rate_of(202) for r in ingests)
        p99 = statistics.median(r.p99_ms for r in ingests)
        report.line("")
        report.figure("bare Litestar GET /ping (ceiling)", ceiling_rate, "req/s")
        report.figure("signed events accepted (202)", accepted_rate, "events/s")
        report.figure(f"ingest p99 at {connections} connections", p99, "ms")
        report.ratio("ingest / bare Litestar", accepted_rate, ceiling_rate, target=TARGET_RATIO)
        report.line(f"p99 {p99:.1f} ms: {'ok' if p99 <= TARGET_P99_MS else 'ABOVE'} target {TARGET_P99_MS:.0f} ms")
        pings = sum(r.requests for r in ceilings)
        events = sum(r.statuses.get(202, 0) for r in ingests)
        report.figure("bare app CPU per ping", spent["bare"] / max(pings, 1) * 1e6, "µs")
        report.figure("gateway CPU per accepted event", spent["gateway"] / max(events, 1) * 1e6, "µs")
        if pg_pid:
            report.figure("postgres CPU per accepted event", spent["postgres"] / max(events, 1) * 1e6, "µs")

        # Every 202 must be in the inbox exactly once; nothing may be stored twice.
        accepted = sum(r.statuses.get(202, 0) for r in ingests)
        async with stack.runtime.db.engine.connect() as conn:
            like = [f"msg_run{p}_%" for p in prefixes]
            stored, distinct = (
                await conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT webhook_id) FROM webhook_events WHERE webhook_id LIKE ANY(:l)"
                    ),
                    {"l": like},
                )
            ).one()
            if WRK:  # wrk records the event id of every 202: look each one up
                ids = [i for r in ingests for i in r.accepted_ids]
                found = (
                    await conn.execute(
                        text("SELECT count(*) FROM webhook_events WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
                    )
                ).scalar_one()
                lost = len(ids) - found
                checked = f"{len(ids)} accepted event ids looked up, {found} found"
            else:  # all deliveries were answered: the inbox holds exactly the accepted ones
                lost = accepted - distinct
                checked = f"{distinct} stored for {accepted} accepted"
        doubled = stored - distinct
        report.line(f"inbox: {checked} -> lost {lost}, duplicated {doubled}")
        if lost or doubled:
            raise SystemExit("the inbox does not hold every accepted event exactly once")
        report.line("zero lost, zero duplicated")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; figures are medians")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rounds, args.connections))
