"""Rate limiter cost: the same authenticated ``GET /v1/tasks/{id}`` on two gateway processes of
the same app in the same run, one with the per-tenant limits on (a budget no request reaches,
so every request pays the Valkey check and passes), one with the reads budget off.

Rounds alternate which gateway goes first, so the machine's noise falls on both alike. Two
figures each, the median of its rounds: requests/s, and the gateway process's own CPU per
request (from /proc); each ratio is the median of the rounds' own ratios
(``Report.paired_ratio``). On a busy machine both move by more than the limiter costs, so the
check is also timed alone, in this process, with as many checks in flight as connections:
its CPU per check against the CPU of a request without it is the limiter's share.

Run: ``uv run python -m bench.rate_limit [--count N] [--concurrency C] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from types import SimpleNamespace
from typing import Any

from bench.common import BenchStack, Report, cpu_seconds, http_load, http_request, median
from gateway.ratelimit import RateLimit
from gateway.tasks import service as tasks_service
from sandbox.server import free_port


async def check_cpu_us(stack: BenchStack, count: int, concurrency: int) -> float:
    """CPU of this process per limiter check, ``concurrency`` checks in flight at a time, as the
    gateway checks a tenant's reads budget: ``RateLimit.check`` on a request's
    scope (reserving ``reserve_for(limit)`` counts per round trip)."""
    from litestar.datastructures import State

    from gateway.tenants.auth import Principal

    limit = RateLimit()
    state = State({"settings": stack.settings, "queue": stack.runtime.queue})
    user = Principal(tenant_id=stack.tenant.tenant_id, key_id=None)
    scope: Any = {"method": "GET", "path": "/v1/tasks/x", "user": user, "app": SimpleNamespace(state=state)}

    async def client(n: int) -> None:
        for _ in range(n):
            if (counting := limit.check(scope)) is not None:
                await counting

    await client(100)
    started = time.process_time()
    await asyncio.gather(*(client(count // concurrency) for _ in range(concurrency)))
    return (time.process_time() - started) / (count // concurrency * concurrency) * 1e6


async def main(count: int, concurrency: int, rounds: int) -> None:
    async with BenchStack(api_key_cache_seconds=10) as stack:
        async with stack.runtime.db.unit_of_work() as session:
            task, _ = await tasks_service.create_task(session, tenant_id=stack.tenant.tenant_id, kind="system.echo")
        gateways: dict[str, tuple[str, int]] = {}  # name -> (url, pid)
        gateways["on"] = (stack.start_gateway(), stack.processes[-1].pid)
        gateways["off"] = (stack.start_gateway(port=free_port(), PONTE_RATE_LIMIT_READS="0"), stack.processes[-1].pid)

        def request(url: str) -> bytes:
            path = f"/v1/tasks/{task.id}"
            return http_request("GET", path, host=url.removeprefix("http://"), headers=stack.tenant.headers)

        for url, _ in gateways.values():  # warm up both
            await http_load(url, [request(url)], count=500, concurrency=concurrency)
        report = Report(
            f"Rate limiter cost, GET /v1/tasks/{{id}}, 1 gateway process each, {concurrency} connections, "
            f"{rounds} rounds of {count} requests"
        )
        rate: dict[str, list[float]] = {"on": [], "off": []}
        cpu_us: dict[str, list[float]] = {"on": [], "off": []}
        for n in range(rounds):
            for name in ("on", "off") if n % 2 == 0 else ("off", "on"):
                url, pid = gateways[name]
                cpu = cpu_seconds(pid)
                result = await http_load(url, [request(url)], count=count, concurrency=concurrency)
                cpu_us[name].append((cpu_seconds(pid) - cpu) / count * 1e6)
                assert set(result.statuses) == {200}, result.statuses
                rate[name].append(result.rate)
            report.line(
                f"round {n + 1}: on {rate['on'][-1]:6.0f} req/s {cpu_us['on'][-1]:6.0f} µs/req   "
                f"off {rate['off'][-1]:6.0f} req/s {cpu_us['off'][-1]:6.0f} µs/req"
            )
        report.figure("limits off: throughput (ceiling)", median(rate["off"]), "req/s")
        report.figure("limits on: throughput", median(rate["on"]), "req/s")
        report.figure("limits off: gateway CPU per request", median(cpu_us["off"]), "µs")
        report.figure("limits on: gateway CPU per request", median(cpu_us["on"]), "µs")
        check = await check_cpu_us(stack, count * 4, concurrency)
        report.figure("limiter check alone: CPU per check", check, "µs")
        report.ratio(
            "CPU per request, without/with the check", median(cpu_us["off"]), median(cpu_us["off"]) + check, 0.97, "µs"
        )
        report.paired_ratio("limited/unlimited throughput", rate["on"], rate["off"], 0.95, "req/s")
        report.paired_ratio("CPU per request, unlimited/limited", cpu_us["off"], cpu_us["on"], 0.95, "µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    # Rounds of about half a second, many of them: one pair's ratio moves between about 0.7 and
    # 1.3 whatever the length (15,000 requests as much as 5,000), and the median of 40 pairs
    # settles where the median of 10 did not (0.91-1.04 in four runs).
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency, args.rounds))
