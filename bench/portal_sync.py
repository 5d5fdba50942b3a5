"""Portal sync: a full beneficiary sync, then an incremental one after 1% changed.

The syncs run in a real worker process against the sandbox core system. The ceiling is a raw
bulk upsert of the same rows (same table, same page size, no fetching, hashing or counting),
measured in the same run. Prints records/s for both syncs, the full-sync/raw ratio (target
0.3), and what the incremental run read: the changed records plus the overlap, nothing else.

Run: ``uv run python -m bench.portal_sync [--beneficiaries N]`` (default 200,000)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from bench.common import BenchStack, Report
from gateway.partners.core_system import CoreSystemClient, CoreSystemCredentials
from gateway.portal import connection, manager
from gateway.portal.imports import PAGE_SIZE, UPSERT, split_page
from gateway.tasks.models import FINISHED, Task

TOKEN = "sandbox-bench"
RAW_UPSERT = text(str(UPSERT).replace("WHERE r.hash <> excluded.hash OR r.removed_at IS NOT NULL", ""))


async def run_sync(stack: BenchStack, key: str) -> Task:
    async with stack.runtime.db.unit_of_work(stack.runtime.queue) as session:
        task = await manager.start_run(session, stack.tenant.tenant_id, key)
    while True:
        await asyncio.sleep(0.2)
        async with stack.runtime.db.sessionmaker() as session:
            row = await session.get_one(Task, task.id)
        if row.status in FINISHED:
            if row.status != "succeeded":
                raise SystemExit(f"{key} ended {row.status}: {row.error}")
            return row


def seconds(task: Task) -> float:
    assert task.started_at
    assert task.finished_at
    return (task.finished_at - task.started_at).total_seconds()


async def raw_upsert_seconds(stack: BenchStack, core: str, scratch: uuid.UUID) -> tuple[float, int]:
    """Fetch every beneficiary first (untimed), then time only the bulk upsert of those rows."""
    client = CoreSystemClient(core, CoreSystemCredentials(TOKEN), http=stack.runtime.http)
    pages = [split_page(items) for items in [p async for p in client.iter_pages("beneficiary", limit=PAGE_SIZE)]]
    started = time.perf_counter()
    for page in pages:
        values = list(page.rows.values())
        async with stack.runtime.db.unit_of_work() as session:
            await session.execute(RAW_UPSERT, {
                "tenant_id": scratch, "entity": "beneficiary", "task_id": None, "ids": list(page.rows),
                "data": [v[0] for v in values], "hashes": [v[1] for v in values], "ts": [v[2] for v in values],
            })  # fmt: skip
    return time.perf_counter() - started, sum(len(p.rows) for p in pages)


async def main(beneficiaries: int) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    async with BenchStack() as stack:
        assert stack.sandbox is not None
        core = f"{stack.sandbox.url}/core"
        sandbox = httpx.AsyncClient(base_url=core, headers={"Authorization": f"Bearer {TOKEN}"})
        (await sandbox.put("/_config", json={"beneficiaries": beneficiaries})).raise_for_status()
        async with stack.runtime.db.unit_of_work() as session:
            await connection.configure(session, stack.runtime, stack.tenant.tenant_id, base_url=core, token=TOKEN)
            checked = await connection.check(session, stack.runtime, stack.tenant.tenant_id)
            assert checked.checked_ok, checked.check_error
            scratch = (await session.execute(text(
                "INSERT INTO tenants (id, name, slug) VALUES (gen_random_uuid(), 'Raw', :slug) RETURNING id"
            ), {"slug": f"raw-{uuid.uuid4().hex[:8]}"})).scalar_one()  # fmt: skip
        stack.start_workers(1)
        report = Report(f"Portal sync, {beneficiaries:,} beneficiaries, 1 worker process, page {PAGE_SIZE}")

        raw_s, raw_rows = await raw_upsert_seconds(stack, core, scratch)
        full = await run_sync(stack, "beneficiary.full")
        full_rate = full.counters["created"] / seconds(full)
        report.figure("raw bulk upsert (ceiling)", raw_rows / raw_s, "records/s")
        report.figure("full sync", full_rate, "records/s")
        report.line(f"full counters: {full.counters}")
        report.ratio("full sync / raw upsert", full_rate, raw_rows / raw_s, target=0.3, unit="records/s")

        # An hour later in the core system, 1% of the beneficiaries change.
        later = datetime.fromisoformat((await sandbox.get("/_config")).json()["now"]) + timedelta(hours=1)
        (await sandbox.put("/_config", json={"now": later.isoformat()})).raise_for_status()
        changed = max(1, beneficiaries // 100)
        mutation = {"entity": "beneficiary", "count": changed, "seed": 1}
        (await sandbox.post("/_mutate", json=mutation)).raise_for_status()
        incremental = await run_sync(stack, "beneficiary.registration.changed")
        read = int(incremental.result["read"])
        report.figure("incremental sync", read / seconds(incremental), "records/s")
        report.line(f"incremental counters: {incremental.counters}")
        report.line(f"incremental read {read:,} records = {changed:,} changed + {read - changed:,} overlap "
                    f"(of {beneficiaries:,}); changed_since {incremental.result['changed_since']}")  # fmt: skip
        report.figure("incremental / full wall time", 100 * seconds(incremental) / seconds(full), "%")
        if incremental.counters["updated"] != changed or read - changed < 0:
            raise SystemExit("the incremental run did not read exactly the changed records plus the overlap")


def cli(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beneficiaries", type=int, default=200_000, help="size of the core system (quick: 20000)")
    return vars(parser.parse_args(argv))


if __name__ == "__main__":
    asyncio.run(main(**cli()))
