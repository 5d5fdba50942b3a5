"""Outbound event delivery: 20,000 events fanned out to 10 endpoints, 10% of requests failing.

The tenant's receiver (the sandbox ``/receiver``, verifying every signature with the reference
``standardwebhooks`` library) runs in its own process and answers 10% of requests with 500.
Events are emitted through the outbox (one transaction per 100 events) while worker processes
deliver them; the clock runs from the first commit to the last success. The ceiling is raw
signed httpx POSTs from one process to the same receiver, at the same number of requests in
flight and in as many connection pools (one per endpoint and worker), in the same run. Prints
deliveries/s, the ratio, the p50/p99 commit-to-first-attempt latency, and checks that every
event reached every endpoint (zero loss).

The retry schedule is shrunk (0.5 s, 1 s, 2 s, ...) so the 10% that fail are retried within
the run; the production schedule starts at 5 s.

Run: ``uv run python -m bench.event_delivery [--events 20000] [--endpoints 10] [--workers 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx
from arq.constants import health_check_key_suffix
from sqlalchemy import text
from standardwebhooks import Webhook

from bench.common import BenchStack, Report
from bench.document_delivery import portal_process
from gateway.events import schemas, service
from gateway.events.catalogue import Ping
from gateway.events.outbox import emit
from gateway.queue import QUEUE_NAME

HEALTH_CHECK = QUEUE_NAME + health_check_key_suffix
BATCH = 100  # events per outbox transaction


def configure(url: str, name: str, secret: str, error_rate: float) -> None:
    body = {"secrets": [secret], "error_rate": error_rate, "seed": 7}
    httpx.put(f"{url}/_receivers/{name}", json=body).raise_for_status()


async def raw_post_rate(url: str, secret: str, count: int, pools: int, per_pool: int) -> tuple[float, int]:
    """The ceiling: signed Standard Webhooks POSTs straight from httpx, nothing recorded.

    Shaped as Ponte sends: ``pools`` connection pools of ``per_pool`` connections each (one per
    endpoint and worker), every connection kept busy. One pool of 100 connections would be a
    lower ceiling than the real one: httpcore scans its pool on every request.
    """
    signer = Webhook(secret)
    next_index = 0
    failures = 0

    async def sender(http: httpx.AsyncClient) -> None:
        nonlocal next_index, failures
        while next_index < count:
            n = next_index
            next_index += 1
            msg_id = f"raw_{n}"
            body = b'{"type":"ping","data":{"message":"raw"}}'
            now = datetime.now(UTC)
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(msg_id, now, body.decode()),
                "content-type": "application/json",
            }
            response = await http.post(url, content=body, headers=headers)
            failures += not response.is_success

    limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
    clients = [httpx.AsyncClient(limits=limits, timeout=15, follow_redirects=False) for _ in range(pools)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(sender(http) for http in clients for _ in range(per_pool)))
        seconds = time.perf_counter() - started
    finally:
        for http in clients:
            await http.aclose()
    return count / seconds, failures


async def ready_workers(stack: BenchStack, n: int) -> None:
    redis = stack.runtime.queue.redis
    await redis.delete(HEALTH_CHECK)
    stack.start_workers(n)
    deadline = time.monotonic() + 60
    while not await redis.exists(HEALTH_CHECK):
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)


async def emit_all(stack: BenchStack, events: int) -> dict[uuid.UUID, float]:
    """Emit ``events`` pings, ``BATCH`` per transaction; returns each event's commit time."""
    committed: dict[uuid.UUID, float] = {}
    for start in range(0, events, BATCH):
        async with stack.runtime.db.unit_of_work() as session:
            ids = [
                await emit(session, stack.tenant.tenant_id, "ping", Ping(message=f"bench {n}"))
                for n in range(start, min(start + BATCH, events))
            ]
        at = time.time()
        committed.update(dict.fromkeys(ids, at))
    return committed


async def paced_latency(stack: BenchStack, report: Report, events: int, endpoints: int) -> None:
    """Commit-to-first-attempt without a backlog: one event every 0.2 s, each its own commit."""
    committed: dict[uuid.UUID, float] = {}
    for n in range(events):
        async with stack.runtime.db.unit_of_work() as session:
            event_id = await emit(session, stack.tenant.tenant_id, "ping", Ping(message=f"paced {n}"))
        committed[event_id] = time.time()
        await asyncio.sleep(0.2)
    deadline = time.monotonic() + 120
    async with stack.runtime.db.engine.connect() as conn:
        while True:
            firsts = (
                await conn.execute(
                    text(
                        "SELECT event_id, min(attempted_at) FROM event_attempts WHERE event_id = ANY(:ids)"
                        " GROUP BY delivery_id, event_id"
                    ),
                    {"ids": list(committed)},
                )
            ).all()
            if len(firsts) >= events * endpoints or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    latencies = sorted((first.timestamp() - committed[event_id]) * 1000 for event_id, first in firsts)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    report.line(f"commit to first attempt, one event every 0.2 s: p50 {p50:,.0f} ms  p99 {p99:,.0f} ms")


async def counts(stack: BenchStack) -> dict[str, int]:
    async with stack.runtime.db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT status, count(*) FROM event_deliveries GROUP BY status"))).all()
    return {r[0]: r[1] for r in rows}


async def main(events: int, endpoints: int, workers: int, cap: int, error_rate: float, paced: int) -> None:
    knobs = {
        "event_retry_schedule": "0,0.5,1,2,4,8,16,32",
        "event_endpoint_concurrency": cap,
        "event_max_in_flight": max(endpoints * cap, 10),
        "event_poll_seconds": 0.5,
        "log_level": "WARNING",
    }
    async with BenchStack(**knobs) as stack:
        with portal_process() as sandbox:  # the sandbox in its own process: the receiver is in it
            await run(stack, f"{sandbox}/receiver", events, endpoints, workers, cap, error_rate, paced)


async def run(
    stack: BenchStack,
    url: str,
    events: int,
    endpoints: int,
    workers: int,
    cap: int,
    error_rate: float,
    paced: int,
) -> None:
    total = events * endpoints
    in_flight = workers * endpoints * cap
    names = []
    async with stack.runtime.db.unit_of_work() as session:
        for n in range(endpoints):
            name = f"bench-{n}"
            data = schemas.EventEndpointCreate(url=f"{url}/{name}", description=name)
            _, secret = await service.create_endpoint(
                session, stack.runtime.cipher, stack.runtime.egress, stack.tenant.tenant_id, data
            )
            configure(url, name, secret, error_rate)
            names.append(name)
    raw_secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    configure(url, "raw", raw_secret, error_rate)
    report = Report(
        f"Event delivery: {events} events x {endpoints} endpoints, {workers} worker(s), "
        f"{in_flight} in flight, receiver failing {error_rate:.0%}"
    )
    pools = workers * endpoints
    await raw_post_rate(f"{url}/raw", raw_secret, 500, pools, cap)  # warm-up
    ceiling, raw_failed = await raw_post_rate(f"{url}/raw", raw_secret, min(total, 20_000), pools, cap)
    report.figure("raw signed httpx POSTs (ceiling)", ceiling, f"req/s ({raw_failed} answered 500)")

    await ready_workers(stack, workers)
    started = time.time()
    emitting = asyncio.create_task(emit_all(stack, events))
    deadline = time.monotonic() + 3600
    while True:
        await asyncio.sleep(0.5)
        now_counts = await counts(stack)
        finished = now_counts.get("succeeded", 0) + now_counts.get("failed", 0)
        if (emitting.done() and finished >= total) or time.monotonic() > deadline:
            break
    committed = await emitting
    async with stack.runtime.db.engine.connect() as conn:
        last = (await conn.execute(text("SELECT max(succeeded_at) FROM event_deliveries"))).scalar_one()
        firsts = (
            await conn.execute(
                text("SELECT a.event_id, min(a.attempted_at) FROM event_attempts a GROUP BY a.delivery_id, a.event_id")
            )
        ).all()
        attempts = (await conn.execute(text("SELECT count(*) FROM event_attempts"))).scalar_one()
    seconds = last.timestamp() - started
    delivered = now_counts.get("succeeded", 0)
    report.line(f"deliveries by status: {now_counts}; {attempts} attempts for {total} deliveries")
    rate = delivered / seconds
    report.figure("deliveries/s (first commit to last success)", rate, "deliveries/s")
    report.ratio("deliveries / raw signed POSTs", rate, ceiling, target=0.5)
    latencies = sorted((first.timestamp() - committed[event_id]) * 1000 for event_id, first in firsts)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    report.line(f"commit to first attempt, backlog of {events} events: p50 {p50:,.0f} ms  p99 {p99:,.0f} ms")

    expected = {str(i) for i in committed}
    problems = []
    duplicates = 0
    async with httpx.AsyncClient(timeout=120) as http:
        for name in names:
            ids = (await http.get(f"{url}/_receivers/{name}/accepted")).json()["ids"]
            duplicates += len(ids) - len(set(ids))
            missing = expected - set(ids)
            if missing or set(ids) - expected:
                problems.append(f"{name}: {len(missing)} missing, {len(set(ids) - expected)} unexpected")
    if delivered != total:
        problems.append(f"{delivered} of {total} deliveries succeeded")
    for p in problems:
        report.line(f"  PROBLEM {p}")
    if problems:
        raise SystemExit(f"{len(problems)} problems")
    report.line(
        f"zero loss: all {events} events reached all {endpoints} endpoints, signatures verified by the "
        f"receiver ({duplicates} duplicate deliveries)"
    )
    await paced_latency(stack, report, paced, endpoints)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--cap", type=int, default=10, help="attempts in flight per endpoint and worker")
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--paced", type=int, default=50, help="events for the latency check without a backlog")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    asyncio.run(main(args.events, args.endpoints, args.workers, args.cap, args.error_rate, args.paced))
