"""API request throughput: authenticated ``GET /v1/tasks/{id}`` against ``GET /ping``.

Run: ``uv run python -m bench.api_throughput [--count N] [--concurrency C]``
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import BenchStack, Report, http_load, http_request
from gateway.tasks import service as tasks_service


async def main(count: int, concurrency: int) -> None:
    async with BenchStack(api_key_cache_seconds=10) as stack:
        async with stack.runtime.db.unit_of_work() as session:
            task, _ = await tasks_service.create_task(session, tenant_id=stack.tenant.tenant_id, kind="system.echo")
        url = stack.start_gateway()
        host = url.removeprefix("http://")
        ping = http_request("GET", "/ping", host=host)
        get_task = http_request("GET", f"/v1/tasks/{task.id}", host=host, headers=stack.tenant.headers)
        await http_load(url, [ping, get_task], count=500, concurrency=concurrency)  # warm up both paths
        report = Report(f"API throughput, 1 gateway process, {concurrency} connections, {count} requests each")
        ceiling = await http_load(url, [ping], count=count, concurrency=concurrency)
        ours = await http_load(url, [get_task], count=count, concurrency=concurrency)
        report.line(ceiling.line("GET /ping (ceiling)"))
        report.line(ours.line("GET /v1/tasks/{id} (authenticated)"))
        assert set(ours.statuses) == {200}, ours.statuses
        report.ratio("tasks/ping throughput", ours.rate, ceiling.rate)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency))
