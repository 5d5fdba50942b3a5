"""Every acknowledged event is processed exactly once in effect, through SIGKILL and FLUSHALL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

from sqlalchemy import text

from tests.webhooks.support import create_endpoint, deliver, envelope
from tests.workers_support import worker_env

EVENTS = 120


def start_crash_worker(settings) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    env = worker_env(settings) | {"PONTE_WORKER_CONCURRENCY": "4"}
    return subprocess.Popen([sys.executable, "-m", "tests.webhooks.crash_worker"], env=env)


async def scalar(runtime, sql: str) -> int:  # type: ignore[no-untyped-def]
    async with runtime.db.engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


async def wait_until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_sigkill_mid_batch_and_flushall_lose_nothing_and_double_nothing(
    client, runtime, settings, tenants
) -> None:
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS crash_effects, crash_calls"))
        await conn.execute(text("CREATE TABLE crash_effects (event_id uuid PRIMARY KEY)"))
        await conn.execute(text("CREATE TABLE crash_calls (event_id uuid NOT NULL)"))
    try:
        t = await tenants.create()
        ep = await create_endpoint(client, t.headers, source="boavista")
        accepted = set()
        for n in range(EVENTS):
            data = {
                "establishment_code": "1020304050",
                "remittance_id": f"rem-{n}",
                "returned_at": "2026-11-20T10:00:00Z",
                "items": [],
            }
            r = await deliver(client, ep, envelope("remittance.returned", data), msg_id=f"msg_{n}")
            assert r.status_code == 202
            accepted.add(r.json()["id"])

        first = start_crash_worker(settings)
        try:
            await wait_until(lambda: _at_least(runtime, "SELECT count(*) FROM crash_effects", 10), timeout=60)
        finally:
            first.send_signal(signal.SIGKILL)  # mid-batch: some events are half-way through
            first.wait()
        await runtime.queue.redis.flushall()  # and the queue forgets everything
        done_before = await scalar(runtime, "SELECT count(*) FROM crash_effects")
        assert done_before < EVENTS

        second = start_crash_worker(settings)
        try:
            # Every event processed and every processing task finished (not just its events).
            await wait_until(
                lambda: _at_least(
                    runtime,
                    "SELECT count(*) FROM webhook_events WHERE status = 'processed'"
                    " AND NOT EXISTS (SELECT 1 FROM tasks WHERE status <> 'succeeded')",
                    EVENTS,
                ),
                timeout=120,
            )
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

        assert await scalar(runtime, "SELECT count(*) FROM crash_effects") == EVENTS
        assert await scalar(runtime, "SELECT count(DISTINCT event_id) FROM crash_calls") == EVENTS
        assert await scalar(runtime, "SELECT count(*) FROM webhook_events") == EVENTS
        ids = {str(r) for r in (await _column(runtime, "SELECT event_id FROM crash_effects"))}
        assert ids == accepted
        assert await scalar(runtime, "SELECT count(*) FROM tasks WHERE status <> 'succeeded'") == 0
    finally:
        async with runtime.db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS crash_effects, crash_calls"))


async def _at_least(runtime, sql: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await scalar(runtime, sql) >= n


async def _column(runtime, sql: str) -> list[object]:  # type: ignore[no-untyped-def]
    async with runtime.db.engine.connect() as conn:
        return list((await conn.execute(text(sql))).scalars())
