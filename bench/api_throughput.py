"""API throughput against the framework's own ceiling.

The ceiling is a bare Litestar hello-world (``bench/bare_app.py``) on the same server with the
same options as the gateway, measured in the same run. Against it: Ponte's ``GET /ping`` (the
whole middleware stack, no database) and an authenticated ``GET /v1/tasks/{id}`` (a key, a
tenant, a row). Many short rounds alternate ceiling and Ponte, in turn forwards and
backwards; each figure is the median of its rounds and each ratio the median of the rounds'
own ratios (``Report.paired_ratio``), so a noisy machine moves both sides of a pair alike.
Load comes from wrk when installed.

Run: ``uv run python -m bench.api_throughput [--seconds S] [--rounds R] [--connections C]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.common import BenchStack, Report, cpu_seconds
from bench.load import TOOL, HttpResult, load_get
from gateway.tasks import service as tasks_service

TARGETS = {"ping": 0.8, "task": 0.5}


async def main(seconds: float, rounds: int, connections: int) -> None:
    async with BenchStack(api_key_cache_seconds=10) as stack:
        async with stack.runtime.db.unit_of_work() as session:
            task, _ = await tasks_service.create_task(session, tenant_id=stack.tenant.tenant_id, kind="system.echo")
        bare = stack.start_bare()
        bare_pid = stack.processes[-1].pid
        ponte = stack.start_gateway()
        ponte_pid = stack.processes[-1].pid
        pids = {"bare": bare_pid, "ping": ponte_pid, "task": ponte_pid}
        auth = stack.tenant.headers
        runs = {
            "bare": lambda s: load_get(bare, "/ping", seconds=s, connections=connections),
            "ping": lambda s: load_get(ponte, "/ping", seconds=s, connections=connections),
            "task": lambda s: load_get(ponte, f"/v1/tasks/{task.id}", seconds=s, connections=connections, headers=auth),
        }
        for run in runs.values():  # warm up every path (imports, caches, prepared statements)
            await run(2)

        report = Report(f"API throughput, one process each, {connections} connections, load from {TOOL}")
        results: dict[str, list[HttpResult]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}  # server CPU seconds per request
        for n in range(rounds):
            for name in list(runs) if n % 2 == 0 else list(runs)[::-1]:
                run = runs[name]
                before = cpu_seconds(pids[name])
                result = await run(seconds)
                cpu[name].append((cpu_seconds(pids[name]) - before) / max(1, sum(result.statuses.values())))
                results[name].append(result)
                report.line(result.line(f"round {n + 1} {name}"))
        assert all(set(r.statuses) == {200} for rs in results.values() for r in rs), "every answer must be 200"

        def rate(name: str) -> float:
            return statistics.median(r.rate for r in results[name])

        report.line("")
        report.figure("bare Litestar GET /ping (ceiling)", rate("bare"), "req/s")
        report.figure("Ponte GET /ping", rate("ping"), "req/s")
        report.figure("Ponte GET /v1/tasks/{id} (authenticated)", rate("task"), "req/s")
        report.figure("GET /v1/tasks/{id} p99", statistics.median(r.p99_ms for r in results["task"]), "ms")
        # Steadier than the rates on a busy machine: what each answer cost the serving process.
        for name, label in (("bare", "bare Litestar"), ("ping", "Ponte /ping"), ("task", "Ponte /v1/tasks/{id}")):
            report.figure(f"{label}: server CPU per request", statistics.median(cpu[name]) * 1e6, "µs")
        bare_rates = [r.rate for r in results["bare"]]
        for name, label in (("ping", "ping / bare Litestar"), ("task", "tasks/{id} / bare Litestar")):
            ours = [r.rate for r in results[name]]
            report.paired_ratio(label, ours, bare_rates, target=TARGETS[name], unit="req/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=20, help="alternating rounds; figures are medians")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rounds, args.connections))
