"""PostgreSQL stops in the middle of load and comes back; no process is restarted.

Meanwhile the gateway answers 503 problems (never a 500) and /health/ready says 503. Once the
server is back, the same gateway and worker processes carry on: every acknowledged webhook is
processed once, the tasks that were running when it stopped finish once, and the portal holds
each document exactly once.
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
pytestmark = pytest.mark.timeout(360)

DOCS = 3
BEFORE, DURING = 15, 8


async def test_postgres_restart_mid_load(fault_stack, settings, sandbox, sandbox_faults) -> None:
    s = stack_settings(fault_stack, settings, sandbox)
    worker = fault_stack.start_worker(s)
    url = fault_stack.start_gateway(s)
    gateway = fault_stack.processes[-1]
    await set_portal_faults(sandbox.url, latency_ms=200)  # deliveries take a while: some are mid-flight
    async with httpx.AsyncClient(base_url=url, timeout=15) as http:
        load = await Load.start(http, s.operator_key, sandbox.url, docs=DOCS)
        for n in range(BEFORE):
            assert (await load.send(n)).status_code == 202
        interrupted = await load.wait_running()
        # The by-id read goes to the driver directly (gateway/tasks/reads.py), outside SQLAlchemy.
        task_path = f"/v1/tasks/{interrupted[0]}"
        for _ in range(5):  # several pooled connections, all cut by the restart
            assert (await http.get(task_path, headers=load.tenant.headers)).status_code == 200

        fault_stack.postgres.stop()
        during: set[tuple[str, int, str]] = set()
        for n in range(BEFORE, BEFORE + DURING):
            for what, r in [
                ("webhook", await load.send(n)),
                ("tasks", await http.get("/v1/tasks", headers=load.tenant.headers)),
                ("task", await http.get(task_path, headers=load.tenant.headers)),
                ("ready", await http.get("/health/ready")),
            ]:
                during.add((what, r.status_code, r.headers["content-type"].split(";")[0]))
            await asyncio.sleep(0.25)
        fault_stack.postgres.start()
        assert during == {
            ("webhook", 503, "application/problem+json"),
            ("tasks", 503, "application/problem+json"),
            ("task", 503, "application/problem+json"),
            ("ready", 503, "application/json"),
        }
        assert len(load.acked) == BEFORE  # a 503 acknowledges nothing

        # Back without a restart: the same gateway process answers again, and the partner's
        # retries of what got a 503 are accepted now.
        await responds(http, "/health/ready", 200, timeout=60)
        for _ in range(5):  # no dead pooled connection is handed out again
            assert (await http.get(task_path, headers=load.tenant.headers)).status_code == 200
        for n in range(BEFORE, BEFORE + DURING):
            assert (await load.send(n)).status_code == 202
        total = BEFORE + DURING
        state = await final_state(s.database_url, expect_events=total, expect_deliveries=total * DOCS)
        assert gateway.poll() is None and worker.poll() is None  # nobody was restarted
        files = await portal_files_of(sandbox.url, load.tenant)

    assert state.processed_events == set(load.acked.values())  # every acknowledged webhook, once
    assert state.tasks_not_succeeded == 0
    assert set(interrupted) <= state.succeeded_tasks  # the ones cut mid-run finished
    assert state.delivered == total * DOCS
    # One file per document, none numbered "(1)" and none uploaded twice.
    assert sorted(f["name"] for f in files) == sorted(load.file_names(range(total)))
    assert {f["version_count"] for f in files} == {1}
