"""Console list pages with 100,000 policies: p95 latency of each page against ``GET /ping``.

Seeds one tenant with ``--policies`` policies, ``--tasks`` import tasks on one connection and
``--results`` result rows for one of them (COPY, so seeding is quick), signs in to the console
once, then requests each list page ``--count`` times, one at a time, through one gateway process.
Each page's p95 must stay under 200 ms; the ratio to ``/ping`` (the same process's floor) says
how much of it is the page's own work, and survives a noisy machine better than the raw figure.

Run: ``uv run python -m bench.console_pages [--policies N] [--count N]``
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx

from bench.common import BenchStack, Report, http_load, http_request
from gateway.imports import connections
from gateway.imports.schemas import ConnectionCreate, Credentials

TARGET_MS = 200.0


async def seed(stack: BenchStack, policies: int, tasks: int, results: int) -> dict[str, str]:
    tenant_id = stack.tenant.tenant_id
    async with stack.runtime.db.unit_of_work() as session:
        connection = await connections.create_connection(
            session, stack.runtime, tenant_id,
            ConnectionCreate(insurer="allianz", credentials=Credentials(username="bench", password="sandbox")),
        )  # fmt: skip
        connection_id = connection.id
    now, today = datetime.now(UTC), date.today()
    conn = await asyncpg.connect(stack.settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.copy_records_to_table(
            "policies",
            columns=["id", "tenant_id", "insurer", "policy_number", "product", "status", "holder_name",
                     "holder_tax_id", "holder_tax_id_type", "start_date", "end_date", "premium_cents", "currency",
                     "updated_on", "as_of", "content_hash", "created_at", "updated_at"],
            records=[
                (uuid.uuid4(), tenant_id, "allianz", f"AZ-{i:07d}", "Automóvel", "active", f"Titular {i}",
                 f"{200000000 + i}", "NIF", today, today + timedelta(days=365), 12345 + i, "EUR", today, now,
                 i.to_bytes(16, "big"), now - timedelta(seconds=i), now - timedelta(seconds=i))
                for i in range(policies)
            ],
        )  # fmt: skip
        task_ids = [uuid.uuid4() for _ in range(tasks)]
        statuses = ("succeeded", "partially_succeeded", "failed", "succeeded")
        await conn.copy_records_to_table(
            "tasks",
            columns=["id", "tenant_id", "kind", "subject_id", "trigger", "params", "status", "progress_done",
                     "progress_total", "counters", "result", "attempt", "max_attempts", "dispatches", "run_after",
                     "cancel_requested", "created_at", "updated_at", "finished_at"],
            records=[
                (tid, tenant_id, "import.run", str(connection_id), "scheduled",
                 f'{{"connection_id": "{connection_id}", "insurer": "allianz", "mode": "period", '
                 f'"period": ["{today}", "{today}"], "windows": [["{today}", "{today}"]]}}',
                 statuses[i % 4], 1, 1, '{"policies_created": 10, "policies_failed": 1}', "{}", 1, 5, 1,
                 now, False, now - timedelta(minutes=i), now - timedelta(minutes=i), now - timedelta(minutes=i))
                for i, tid in enumerate(task_ids)
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "import_results",
            columns=["task_id", "tenant_id", "record_type", "policy_number", "outcome", "error", "as_of"],
            records=[
                (task_ids[0], tenant_id, "policy", f"AZ-{i:07d}", "failed" if i % 50 == 0 else "created",
                 "start_date is not a valid date" if i % 50 == 0 else None, now)
                for i in range(results)
            ],
        )  # fmt: skip
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"connection": str(connection_id), "task": str(task_ids[0]), "holder": str(200000000 + policies // 2)}


def sign_in(url: str, key: str) -> str:
    """The console's session cookie, got the way a browser gets it."""
    with httpx.Client(base_url=url) as browser:
        page = browser.get("/console/sign-in").text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page)
        assert token
        r = browser.post("/console/sign-in", data={"key": key, "_csrf_token": token.group(1)})
        assert r.status_code == 303, r.text
        cursor = re.search(r'rel="next" href="\?([^"]+)"', browser.get("/console/policies").text)
        assert cursor, "the policy list has a next page"
        return f"ponte_console={browser.cookies['ponte_console']}|{cursor.group(1)}"


async def main(policies: int, tasks: int, results: int, count: int) -> None:
    async with BenchStack(api_key_cache_seconds=10) as stack:
        ids = await seed(stack, policies, tasks, results)
        url = stack.start_gateway()
        host = url.removeprefix("http://")
        cookie, policies_page_2 = sign_in(url, stack.tenant.key).split("|")
        pages = {
            "overview": "/console/",
            "tasks": "/console/tasks",
            "tasks, failed": "/console/tasks?status=failed",
            "insurer connections": "/console/imports",
            "connection history": f"/console/imports/connections/{ids['connection']}",
            "import detail (failed first)": f"/console/imports/{ids['task']}",
            "policies": "/console/policies",
            "policies, page 2": f"/console/policies?{policies_page_2}",
            "policies, by holder tax id": f"/console/policies?q={ids['holder']}",
            "portal syncs (52)": "/console/portal",
            "document failures card": "/console/documents/",
            "document deliveries": "/console/documents/deliveries",
            "document templates": "/console/documents/templates",
            "divergence queue": "/console/reconciliation/divergences",
            "webhook events": "/console/webhooks/events",
            "outbound endpoints": "/console/webhooks/outbound",
            "sent events": "/console/webhooks/messages",
        }
        report = Report(
            f"Console pages, 1 gateway process, {policies:,} policies, {tasks:,} tasks, {results:,} import results; "
            f"{count} sequential requests each, p95 target {TARGET_MS:.0f} ms"
        )
        ping = http_request("GET", "/ping", host=host)
        await http_load(url, [ping], count=200, concurrency=1)
        floor = await http_load(url, [ping], count=count, concurrency=1)
        report.line(f"{'GET /ping (floor)':<34} p95 {floor.percentile(0.95):7.2f} ms")
        worst = 0.0
        for name, path in pages.items():
            request = http_request("GET", path, host=host, headers={"Cookie": cookie})
            await http_load(url, [request], count=20, concurrency=1)  # warm up
            result = await http_load(url, [request], count=count, concurrency=1)
            assert set(result.statuses) == {200}, (name, result.statuses)
            p95 = result.percentile(0.95)
            worst = max(worst, p95)
            verdict = "ok" if p95 < TARGET_MS else "OVER TARGET"
            report.line(
                f"{name:<34} p95 {p95:7.2f} ms  p50 {result.percentile(0.5):7.2f} ms  "
                f"x{p95 / floor.percentile(0.95):6.1f} of /ping  {verdict}"
            )
        report.figure("worst page p95", worst, "ms")
        report.ratio("worst page p95 / target", worst, TARGET_MS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--results", type=int, default=50_000)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.policies, args.tasks, args.results, args.count))
