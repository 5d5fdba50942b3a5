"""Import syncs against the sandbox core system: counters, watermark and ties, vanish detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.partners.core_system import CoreSystemClient
from gateway.portal import imports
from gateway.portal.models import SyncedRecord, SyncState
from gateway.tasks.runner import TaskFailed
from tests.portal.conftest import Portal

LIVE = 59  # 60 beneficiaries, one (index 13) cancelled before the sandbox started
INCREMENTAL = "beneficiary.registration.changed"


def counters(
    created: int = 0, updated: int = 0, unchanged: int = 0, removed: int = 0, failed: int = 0
) -> dict[str, int]:
    return {"created": created, "updated": updated, "unchanged": unchanged, "removed": removed, "failed": failed}


async def watermark(runtime: Any, portal: Portal, key: str = INCREMENTAL) -> datetime | None:
    async with runtime.db.sessionmaker() as session:
        return await session.scalar(
            select(SyncState.watermark).where(SyncState.tenant_id == portal.tenant_id, SyncState.sync_key == key)
        )


async def stored(runtime: Any, portal: Portal, *, live: bool = True) -> int:
    async with runtime.db.sessionmaker() as session:
        stmt = select(func.count()).where(
            SyncedRecord.tenant_id == portal.tenant_id, SyncedRecord.entity == "beneficiary"
        )
        if live:
            stmt = stmt.where(SyncedRecord.removed_at.is_(None))
        return int(await session.scalar(stmt) or 0)


async def test_full_sync_creates_then_reads_unchanged(portal: Portal, worker: Any) -> None:
    run = await portal.run("beneficiary.full", worker)
    assert run["status"] == "succeeded", run
    assert run["counters"] == counters(created=LIVE)
    again = await portal.run("beneficiary.full", worker)
    assert again["counters"] == counters(unchanged=LIVE)


async def test_full_sync_marks_vanished_records_removed_and_counts_changes(
    portal: Portal, worker: Any, runtime: Any
) -> None:
    await portal.run("beneficiary.full", worker)
    change = portal.core("POST", "/_mutate", json={"entity": "beneficiary", "count": 4, "delete": 3, "seed": 7})
    run = await portal.run("beneficiary.full", worker)
    assert run["counters"] == counters(updated=4, unchanged=LIVE - 7, removed=3)
    assert await stored(runtime, portal) == LIVE - 3
    r = await portal.client.get("/v1/portal/records/beneficiary?include_removed=true&limit=500", headers=portal.headers)
    removed = {i["id"] for i in r.json()["items"] if i["removed_at"]}
    assert removed == set(change["deleted"])
    # Vanished records stay removed (not re-removed) on the next run.
    assert (await portal.run("beneficiary.full", worker))["counters"] == counters(unchanged=LIVE - 3)


async def test_incremental_reads_changes_plus_overlap_and_tombstones_remove(
    portal: Portal, worker: Any, runtime: Any
) -> None:
    first = await portal.run(INCREMENTAL, worker)
    # From the beginning of time: every live record, plus the tombstone of the cancelled one.
    assert first["counters"] == counters(created=LIVE, unchanged=1)
    mark = await watermark(runtime, portal)
    assert mark == datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=59 // 3)
    change = portal.core("POST", "/_mutate", json={"entity": "beneficiary", "count": 5, "delete": 2, "seed": 1})
    touched = set(change["changed"]) | set(change["deleted"])
    # The overlap re-reads the last five minutes before the watermark: indices 42..59 (3 per minute).
    overlap = {f"BEN{i:08d}" for i in range(42, 60)} - touched
    run = await portal.run(INCREMENTAL, worker)
    assert run["counters"] == counters(updated=5, removed=2, unchanged=len(overlap))
    assert run["result"]["read"] == 7 + len(overlap)
    assert await watermark(runtime, portal) == datetime(2025, 6, 2, 12, tzinfo=UTC)  # the sandbox's clock
    # Nothing new: the re-read changes and tombstones are unchanged, not updated or removed again.
    assert (await portal.run(INCREMENTAL, worker))["counters"] == counters(unchanged=7)


async def test_ties_at_the_watermark_are_neither_skipped_nor_double_counted(
    portal: Portal, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "OVERLAP", timedelta(0))  # only the inclusive bound protects the ties
    monkeypatch.setattr(imports, "PAGE_SIZE", 2)  # page boundaries fall inside runs of equal updated_at
    await portal.run(INCREMENTAL, worker)
    first = portal.core("POST", "/_mutate", json={"entity": "beneficiary", "count": 6, "seed": 2})
    at_watermark = {f"BEN{i:08d}" for i in (57, 58, 59)} - set(first["changed"])  # the inclusive bound re-reads them
    assert (await portal.run(INCREMENTAL, worker))["counters"] == counters(updated=6, unchanged=len(at_watermark))
    # The sandbox clock has not moved: these changes share updated_at with the watermark.
    second = portal.core("POST", "/_mutate", json={"entity": "beneficiary", "count": 3, "seed": 3})
    run = await portal.run(INCREMENTAL, worker)
    read = set(first["changed"]) | set(second["changed"])
    assert run["counters"] == counters(updated=3, unchanged=len(read) - 3)


async def test_watermark_moves_only_with_committed_pages(
    portal: Portal, worker: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "PAGE_SIZE", 10)
    real_split = imports.split_page
    calls = {"n": 0}

    def failing_third_page(items: list[dict[str, Any]]) -> imports.Page:
        calls["n"] += 1
        if calls["n"] == 3:
            raise TaskFailed("the third page could not be read", code="test")
        return real_split(items)

    monkeypatch.setattr(imports, "split_page", failing_third_page)
    run = await portal.run(INCREMENTAL, worker)
    assert run["status"] == "failed"
    assert await stored(runtime, portal, live=False) == 19  # 20 items read, one the tombstone of BEN13
    page_two_newest = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=19 // 3)  # 20th record by (updated_at, id)
    assert await watermark(runtime, portal) == page_two_newest
    monkeypatch.setattr(imports, "split_page", real_split)
    resumed = await portal.run(INCREMENTAL, worker)
    assert resumed["counters"]["created"] == LIVE - 19
    assert resumed["counters"]["updated"] == 0
    assert await stored(runtime, portal) == LIVE


async def test_failed_records_are_listed_and_hold_the_watermark_back(
    portal: Portal, worker: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CoreSystemClient.iter_pages

    async def with_bad_records(self: CoreSystemClient, *args: Any, **kwargs: Any) -> Any:
        first = True
        async for page in real(self, *args, **kwargs):
            if first:
                page = [
                    *page,
                    {"updated_at": "2023-01-01T00:05:00Z", "name": "no id"},
                    {"id": "BEN-X", "updated_at": "soon"},
                ]
                first = False
            yield page

    monkeypatch.setattr(CoreSystemClient, "iter_pages", with_bad_records)
    run = await portal.run(INCREMENTAL, worker)
    assert run["status"] == "partially_succeeded"
    assert run["counters"] == counters(created=LIVE, unchanged=1, failed=2)
    assert run["failures_total"] == 2
    assert {(f["external_id"], f["error"][:17]) for f in run["failures"]} == {
        (None, "record has no id"),
        ("BEN-X", "Invalid isoformat"),
    }
    assert await watermark(runtime, portal) == datetime(2023, 1, 1, 0, 5, tzinfo=UTC)
    r = await portal.client.get(f"/v1/portal/runs/{run['id']}/failures?limit=1", headers=portal.headers)
    assert len(r.json()["items"]) == 1
    assert r.json()["next_cursor"]
