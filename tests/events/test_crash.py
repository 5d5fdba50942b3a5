"""A worker SIGKILLed in the middle of fanning events out, then a Valkey FLUSHALL: every
committed event still reaches every subscribed endpoint, under its own webhook-id."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter

from sqlalchemy import text

from gateway.events.catalogue import Ping
from gateway.events.outbox import emit
from tests.events.support import configure, create_endpoint, delivery_counts, received, receiver, wait_until
from tests.workers_support import worker_env

ENDPOINTS = 4
EVENTS = 60
LATE_EVENTS = 10  # committed while no worker runs at all


async def succeeded_pairs(runtime) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with runtime.db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT ep.url, d.event_id FROM event_deliveries d JOIN event_endpoints ep ON ep.id = d.endpoint_id"
                " WHERE d.status = 'succeeded'"
            )
        )
        return {(r[0], str(r[1])) for r in rows}


def start_worker(settings) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    env = worker_env(settings) | {
        "PONTE_EVENT_LEASE_SECONDS": "3",
        "PONTE_EVENT_ATTEMPT_TIMEOUT_SECONDS": "2",  # so the lease is 2 x 2 + 5 = 9 s
        "PONTE_EVENT_POLL_SECONDS": "0.2",
        "PONTE_EVENT_RETRY_SCHEDULE": "0,0.2,0.2,0.2,0.2,0.2",
        "PONTE_EVENT_ENDPOINT_CONCURRENCY": "8",
    }
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker"], env=env, stdout=subprocess.DEVNULL)


async def test_sigkill_during_fan_out_and_flushall_lose_no_event(runtime, settings, client, tenants, sandbox) -> None:
    t = await tenants.create()
    urls = []
    for _ in range(ENDPOINTS):
        url = receiver(sandbox.url)
        ep = await create_endpoint(client, t.headers, url)
        configure(url, secrets=[ep["secret"]], latency_ms=20)
        urls.append(url)
    ids: list[str] = []
    async with runtime.db.unit_of_work() as session:
        for n in range(EVENTS):
            ids.append(str(await emit(session, t.tenant_id, "ping", Ping(message=f"n{n}"))))
    total = (EVENTS + LATE_EVENTS) * ENDPOINTS

    first = start_worker(settings)
    try:

        async def under_way() -> bool:
            return (await delivery_counts(runtime)).get("succeeded", 0) >= 40

        await wait_until(under_way, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)  # mid fan-out: some deliveries are in flight
        first.wait()
    counts = await delivery_counts(runtime)
    assert counts.get("succeeded", 0) < EVENTS * ENDPOINTS
    recorded = await succeeded_pairs(runtime)  # these must never be sent again
    async with runtime.db.unit_of_work() as session:
        for n in range(LATE_EVENTS):
            ids.append(str(await emit(session, t.tenant_id, "ping", Ping(message=f"late{n}"))))
    await runtime.queue.redis.flushall()

    second = start_worker(settings)
    try:

        async def everything() -> bool:
            return (await delivery_counts(runtime)) == {"succeeded": total}

        await wait_until(everything, timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    for url in urls:
        items = received(url)
        assert all(i["verified"] for i in items)
        accepted = Counter(i["webhook_id"] for i in items if i["status"] == 200)
        assert set(accepted) == set(ids)  # every committed event, on every endpoint
        # At least once: only what the dead worker had not yet recorded may arrive twice.
        assert all(accepted[event_id] == 1 for u, event_id in recorded if u == url)
