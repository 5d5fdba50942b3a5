"""PostgreSQL stops in the middle of load and comes back; the processes are not restarted.

Meanwhile the gateway answers 503 problems (never a 500) and /health/ready says 503. Once the
server is back, the same gateway and worker processes carry on: every acknowledged webhook is
processed once, the tasks that were running when it stopped finish once, and the portal holds
each document exactly once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.documents.support import set_portal_faults
from tests.faults.conftest import stack_settings
from tests.faults.load import (
    document_tenant,
    final_state,
    portal_files_of,
    post_event,
    task_completed,
    wait_until,
)

DOCS = 3
BEFORE, DURING = 20, 8


async def test_postgres_restart_mid_load(fault_stack, settings, sandbox, sandbox_faults) -> None:
    import time; T0 = time.monotonic(); P = lambda m: print(f"{time.monotonic()-T0:6.1f} {m}", flush=True)
    s = stack_settings(fault_stack, settings, sandbox)
    url = fault_stack.start_gateway(s)
    gateway = fault_stack.processes[-1]; P("gateway up")
    await set_portal_faults(sandbox.url, latency_ms=200)  # deliveries take a while: some are mid-flight
    acked: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=url, timeout=15) as http:
        t, endpoint = await document_tenant(http, s.operator_key, sandbox.url)
        P("tenant"); worker = fault_stack.start_worker(s)

        async def send(n: int) -> httpx.Response:
            r = await post_event(http, endpoint, task_completed(n, DOCS), f"msg_{n}")
            if r.status_code == 202:
                acked[f"msg_{n}"] = r.json()["id"]
            return r

        for n in range(BEFORE):
            assert (await send(n)).status_code == 202

        async def running() -> list[Any]:
            r = await http.get("/v1/tasks", params={"status": "running", "limit": 100}, headers=t.headers)
            return [task["id"] for task in r.json()["items"]]

        P("posted"); await wait_until(lambda: _nonempty(running()), timeout=60)
        interrupted = await running()

        P("stopping"); fault_stack.postgres.stop(); P("stopped")
        during: list[tuple[str, int, str]] = []
        for n in range(BEFORE, BEFORE + DURING):
            for what, response in [
                ("webhook", await send(n)),
                ("tasks", await http.get("/v1/tasks", headers=t.headers)),
                ("ready", await http.get("/health/ready")),
            ]:
                during.append((what, response.status_code, response.headers.get("content-type", "")))
            await asyncio.sleep(0.25)
        P("starting"); fault_stack.postgres.start(); P("started")

        assert {d for d in during if d[0] != "ready"} == {
            ("webhook", 503, "application/problem+json"),
            ("tasks", 503, "application/problem+json"),
        }, during
        assert {d[1] for d in during if d[0] == "ready"} == {503}
        assert not acked.keys() & {f"msg_{n}" for n in range(BEFORE, BEFORE + DURING)}

        # Back without a restart: the same gateway process answers again...
        await wait_until(lambda: _ok(http.get("/health/ready")), timeout=60)
        # ...and the partner's retries of what got a 503 are accepted now.
        for n in range(BEFORE, BEFORE + DURING):
            assert (await send(n)).status_code == 202
        assert len(acked) == BEFORE + DURING; P("resent")

        state = await final_state(s.database_url, expect_events=len(acked), expect_deliveries=len(acked) * DOCS)
        P("final"); assert gateway.poll() is None and worker.poll() is None  # nobody was restarted
        files = await portal_files_of(sandbox.url, t)

    assert state.processed_events == set(acked.values())  # every acknowledged webhook, once
    assert state.tasks_not_succeeded == 0
    assert set(interrupted) <= state.succeeded_tasks  # the ones cut mid-run finished
    assert state.delivered == len(acked) * DOCS
    assert sorted(f["name"] for f in files) == sorted(
        f"DAS {n}-{i}.pdf" for n in range(BEFORE + DURING) for i in range(DOCS)
    )  # no copy numbered "(1)": nothing delivered twice
    assert {f["version_count"] for f in files} == {1}


async def _nonempty(coro: Any) -> bool:
    return bool(await coro)


async def _ok(coro: Any) -> bool:
    try:
        return bool((await coro).status_code == 200)
    except httpx.TransportError:
        return False
