"""Valkey restarts in the middle of load, with and without persistence; nothing is restarted.

While it is down, webhooks are still acknowledged (the events and their tasks are in
PostgreSQL) and /health/ready says 503. Valkey stays down many times longer than the worker's
retry budget (shrunk here to a second), and a worker started meanwhile waits for it instead of
exiting. When it is back, the workers carry on, and the sweeper dispatches again whatever the
queue lost: every task finishes once, nothing doubles.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.documents.support import set_portal_faults
from tests.faults.conftest import stack_settings
from tests.faults.load import Load, final_state, portal_files_of, responds

# Real gateway and worker processes, started and stopped by the test: on a busy 2-core machine
# their boot alone can take most of the suite's default 120 s.
pytestmark = pytest.mark.timeout(420)

DOCS = 3
BEFORE, DURING, AFTER = 15, 8, 5
RETRY_BUDGET = 1.0  # seconds (queue_retry_seconds); 60 in production
# Seconds Valkey stays down: many retry budgets, and longer than arq lets a starting worker
# wait for Valkey (5 tries a second apart) plus that worker's own boot.
OUTAGE = 20.0


@pytest.mark.parametrize("valkey_persist", [False, True], ids=["empty-after-restart", "append-only-file"])
async def test_valkey_restart_mid_load(fault_stack, settings, sandbox, sandbox_faults, valkey_persist) -> None:
    s = stack_settings(fault_stack, settings, sandbox, queue_retry_seconds=RETRY_BUDGET)
    worker = fault_stack.start_worker(s)
    url = fault_stack.start_gateway(s)
    gateway = fault_stack.processes[-1]
    await set_portal_faults(sandbox.url, latency_ms=200)  # deliveries take a while: some are mid-flight
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=url, timeout=15) as http:
        load = await Load.start(http, s.operator_key, sandbox.url, docs=DOCS)
        for n in range(BEFORE):
            assert (await load.send(n)).status_code == 202
        interrupted = await load.wait_running()

        fault_stack.valkey.stop()
        down_since = loop.time()
        ready = set()
        for n in range(BEFORE, BEFORE + DURING):
            r = await load.send(n)
            assert r.status_code == 202, r.text  # stored in PostgreSQL: acknowledged all the same
            ready.add((await http.get("/health/ready")).status_code)
            await asyncio.sleep(0.25)
        assert ready == {503}
        # A worker (re)started by its supervisor while Valkey is down waits for it.
        late_worker = fault_stack.start_worker(s)
        await asyncio.sleep(OUTAGE - (loop.time() - down_since))
        assert worker.poll() is None, "the worker exited during the outage"
        assert late_worker.poll() is None, "a worker started during the outage exited"
        fault_stack.valkey.start()

        await responds(http, "/health/ready", 200, timeout=60)
        for n in range(BEFORE + DURING, BEFORE + DURING + AFTER):
            assert (await load.send(n)).status_code == 202
        state = await final_state(
            s.database_url, expect_events=len(load.acked), expect_deliveries=len(load.acked) * DOCS
        )
        assert gateway.poll() is None and worker.poll() is None and late_worker.poll() is None
        files = await portal_files_of(sandbox.url, load.tenant)
        # Jobs that finished while Valkey was down left no error behind to end the shutdown with.
        for proc in (worker, late_worker):
            proc.terminate()
        assert [proc.wait(timeout=30) for proc in (worker, late_worker)] == [0, 0]

    total = BEFORE + DURING + AFTER
    assert state.processed_events == set(load.acked.values()) and len(load.acked) == total
    assert state.tasks_not_succeeded == 0
    assert set(interrupted) <= state.succeeded_tasks
    assert state.delivered == total * DOCS
    assert sorted(f["name"] for f in files) == sorted(load.file_names(range(total)))
    assert {f["version_count"] for f in files} == {1}
