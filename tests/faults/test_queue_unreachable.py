"""Valkey is down when the gateway starts, or stops answering while it runs.

A gateway started during an outage serves at once (readiness 503, webhooks acknowledged from
PostgreSQL) and uses Valkey when it comes back, without a restart. A Valkey that keeps its
connections open but answers nothing (stopped with SIGSTOP) fails the gateway's enqueues and
rate-limit checks after ``queue_timeout_seconds`` instead of holding requests forever; the
sweeper sends the tasks once it answers again.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.faults.conftest import stack_settings
from tests.faults.load import Load, final_state, responds

pytestmark = pytest.mark.timeout(300)

DOCS = 2
TIMEOUT = 1.0  # queue_timeout_seconds


async def test_gateway_starts_while_valkey_is_down(fault_stack, settings, sandbox) -> None:
    s = stack_settings(fault_stack, settings, sandbox, queue_timeout_seconds=TIMEOUT)
    fault_stack.valkey.stop()
    url = fault_stack.spawn_gateway(s)
    gateway = fault_stack.processes[-1]
    worker = fault_stack.start_worker(s)  # waits for Valkey too
    async with httpx.AsyncClient(base_url=url, timeout=15) as http:
        await responds(http, "/health/live", 200, timeout=90)
        await asyncio.sleep(7)  # longer than arq's five tries a second apart, which used to end the start-up
        assert gateway.poll() is None, "the gateway exited while Valkey was down"
        ready = await http.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["queue"].startswith("down"), ready.text
        assert ready.json()["database"] == "ok"

        load = await Load.start(http, s.operator_key, sandbox.url, docs=DOCS)
        for n in range(3):
            assert (await load.send(n)).status_code == 202  # in PostgreSQL: acknowledged

        fault_stack.valkey.start()
        await responds(http, "/health/ready", 200, timeout=30)
        for n in range(3, 5):
            assert (await load.send(n)).status_code == 202
        state = await final_state(s.database_url, expect_events=5, expect_deliveries=5 * DOCS)
    assert gateway.poll() is None and worker.poll() is None
    assert state.processed_events == set(load.acked.values()) and len(load.acked) == 5
    assert state.tasks_not_succeeded == 0 and state.delivered == 5 * DOCS


async def test_valkey_that_stops_answering_holds_no_request(fault_stack, settings, sandbox) -> None:
    s = stack_settings(fault_stack, settings, sandbox, queue_timeout_seconds=TIMEOUT)
    url = fault_stack.start_gateway(s)
    worker = fault_stack.start_worker(s)
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        load = await Load.start(http, s.operator_key, sandbox.url, docs=DOCS)
        assert (await load.send(0)).status_code == 202

        fault_stack.valkey.pause()
        try:
            for n in range(1, 4):
                started = time.monotonic()
                assert (await load.send(n)).status_code == 202
                # One timed-out enqueue (and at most one rate-limit check) per request, not a hang.
                assert time.monotonic() - started < 4 * TIMEOUT + 2
            started = time.monotonic()
            r = await http.get("/v1/tasks", headers=load.tenant.headers)
            assert r.status_code == 200 and time.monotonic() - started < 4 * TIMEOUT + 2
            ready = await http.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["queue"].startswith("down"), ready.text
        finally:
            fault_stack.valkey.resume()

        await responds(http, "/health/ready", 200, timeout=30)
        state = await final_state(s.database_url, expect_events=4, expect_deliveries=4 * DOCS)
    assert worker.poll() is None
    assert state.processed_events == set(load.acked.values()) and len(load.acked) == 4
    assert state.tasks_not_succeeded == 0 and state.delivered == 4 * DOCS
