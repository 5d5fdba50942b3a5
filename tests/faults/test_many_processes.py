"""Two gateway processes and three workers on one PostgreSQL and one Valkey, under a mixed load,
while a worker is killed (SIGKILL) every few seconds and replaced.

Checked at the end: every task finished; the counters are exact; no policy, record, file or
remittance is doubled; every acknowledged webhook was processed once.
"""

from __future__ import annotations

import asyncio
import itertools
import random

import httpx
import pytest

from sandbox.server import free_port
from tests.faults.conftest import stack_settings
from tests.faults.load import document_tenant, portal_files_of, post_event, task_completed, wait_until
from tests.faults.mixed import MixedLoad, rows, scalar

# Real gateway and worker processes, started and stopped by the test: on a busy 2-core machine
# their boot alone can take most of the suite's default 120 s.
pytestmark = pytest.mark.timeout(360)

EVENTS, DOCS = 40, 2
KILLS, KILL_EVERY = 4, 3.0
UNFINISHED = "SELECT count(*) FROM tasks WHERE status IN ('queued', 'running')"


async def test_two_gateways_three_workers_and_a_worker_killed_every_few_seconds(
    fault_stack, settings, sandbox, sandbox_faults
) -> None:
    port = free_port()
    # Boavista posts its return webhook to the first gateway, as it would to the load balancer.
    s = stack_settings(fault_stack, settings, sandbox, public_url=f"http://127.0.0.1:{port}")
    urls = [fault_stack.spawn_gateway(s, port), fault_stack.spawn_gateway(s)]
    workers = [fault_stack.start_worker(s) for _ in range(3)]
    for url in urls:
        fault_stack.wait_live(url)
    db = s.database_url
    async with httpx.AsyncClient() as admin:
        (await admin.put(f"{sandbox.url}/insurers/_config/", json={"policies_per_insurer": 300})).raise_for_status()
    try:
        async with (
            httpx.AsyncClient(base_url=urls[0], timeout=30) as a,
            httpx.AsyncClient(base_url=urls[1], timeout=30) as b,
        ):
            tenant, endpoint = await document_tenant(a, s.operator_key, sandbox.url)
            load = MixedLoad(b, tenant, sandbox.url)
            await load.insurer_import()
            await load.portal_sync()
            await load.reconciliation()

            acked: dict[str, str] = {}

            async def deliveries() -> None:  # the task system posts to both gateways in turn
                for n, http in zip(range(EVENTS), itertools.cycle([a, b]), strict=False):
                    r = await post_event(http, endpoint, task_completed(n, DOCS), f"msg_{n}")
                    assert r.status_code == 202, r.text
                    acked[f"msg_{n}"] = r.json()["id"]
                    await asyncio.sleep(0.05)

            async def chaos() -> int:
                rng, killed = random.Random(13), 0
                for _ in range(KILLS):
                    await asyncio.sleep(KILL_EVERY)
                    victim = workers.pop(rng.randrange(len(workers)))
                    fault_stack.kill(victim)
                    killed += 1
                    workers.append(fault_stack.start_worker(s))
                return killed

            _, killed = await asyncio.gather(deliveries(), chaos())
            assert killed == KILLS

            async def settled() -> bool:
                return (
                    await scalar(db, UNFINISHED) == 0
                    and await scalar(db, "SELECT count(*) FROM webhook_events WHERE status <> 'processed'") == 0
                    and await scalar(db, "SELECT count(*) FROM remittances WHERE status <> 'returned'") == 0
                )

            await wait_until(settled, timeout=120)
            files = await portal_files_of(sandbox.url, tenant)
    finally:
        async with httpx.AsyncClient() as admin:
            await admin.delete(f"{sandbox.url}/insurers/_config/")

    # Every task finished, and none failed.
    assert dict(await rows(db, "SELECT status, count(*) FROM tasks GROUP BY status")).keys() == {"succeeded"}

    # Documents: every acknowledged event processed once, one delivery and one file per document.
    processed = {str(r[0]) for r in await rows(db, "SELECT id FROM webhook_events WHERE source = 'task-system'")}
    assert processed == set(acked.values()) and len(acked) == EVENTS
    assert await scalar(db, "SELECT count(*) FROM document_deliveries WHERE status = 'delivered'") == EVENTS * DOCS
    assert sorted(f["name"] for f in files) == sorted(f"DAS {n}-{i}.pdf" for n in range(EVENTS) for i in range(DOCS))
    assert {f["version_count"] for f in files} == {1}

    # Import: its counters add up to what is stored, and each policy is stored once.
    counters = await scalar(db, "SELECT counters FROM tasks WHERE id = :id", id=load.started["import"])
    policies = await scalar(db, "SELECT count(*) FROM policies")
    assert policies > 0
    assert sum(counters.get(f"policies_{o}", 0) for o in ("created", "updated", "unchanged")) == policies
    assert counters.get("policies_failed", 0) == 0
    assert await scalar(db, "SELECT count(DISTINCT (insurer, policy_number)) FROM policies") == policies

    # Portal sync: created + updated + unchanged is every record, each stored once.
    counters = await scalar(db, "SELECT counters FROM tasks WHERE id = :id", id=load.started["sync"])
    records = await scalar(db, "SELECT count(*) FROM portal_records")
    assert records > 0 and counters.get("removed", 0) == 0
    assert counters.get("created", 0) + counters.get("updated", 0) + counters.get("unchanged", 0) == records

    # Reconciliation: each sale sent in one remittance, each remittance returned and applied once.
    remittances = await rows(db, "SELECT remittance_id FROM remittances")
    assert len(remittances) == 1
    items = await scalar(db, "SELECT count(*) FROM remittance_items")
    assert items == await scalar(db, "SELECT count(*) FROM card_sales WHERE status IN ('reconciled', 'divergent')")
    assert await scalar(db, "SELECT count(*) FROM card_sales WHERE status IN ('pending', 'sent')") == 0
    returns = await scalar(db, "SELECT count(*) FROM webhook_events WHERE source = 'boavista' AND status = 'processed'")
    assert returns >= 1  # Boavista may deliver a return twice; it is applied once (statuses above)
