"""Import syncs: stream an entity's pages from the core system into ``portal_records``.

Each page is one transaction: one bulk upsert that only rewrites rows whose content hash
changed (``RETURNING xmax = 0`` tells created from updated; the rest are unchanged), the
tombstones, the failed records, and for incremental syncs the watermark, so the watermark
can never get ahead of what is committed.

Incremental syncs read ``changed_since = watermark - OVERLAP``. The bound is inclusive and
records share ``updated_at`` on purpose, so the overlap re-reads the ties at the watermark;
they hash the same and count as unchanged, never as updated. A failed record holds the
watermark back so the next run reads it again.

Full syncs read live records and, at the end, mark removed every record of the entity that
was not seen and was not written since the run began (a concurrent incremental run of the
same entity may have added it).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
from sqlalchemy import text

from gateway.db.base import utcnow
from gateway.partners.core_system import CoreSystemClient
from gateway.portal import state as sync_state
from gateway.portal.catalogue import SYNCS, SyncDefinition
from gateway.portal.models import SyncFailure
from gateway.tasks.models import TaskStatus
from gateway.tasks.runner import TaskContext, TaskOutcome

T = TypeVar("T")
PAGE_SIZE = 5_000
OVERLAP = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ENVELOPE = ("id", "updated_at", "deleted")

UPSERT = text(
    """
    INSERT INTO portal_records AS r
        (tenant_id, entity, external_id, data, hash, updated_at_source, last_task_id, synced_at, removed_at)
    SELECT :tenant_id, :entity, i.id, CAST(i.data AS jsonb), i.hash, i.ts, :task_id, now(), NULL
    FROM unnest(CAST(:ids AS text[]), CAST(:data AS text[]), CAST(:hashes AS text[]), CAST(:ts AS timestamptz[]))
        AS i(id, data, hash, ts)
    ON CONFLICT (tenant_id, entity, external_id) DO UPDATE
    SET data = excluded.data, hash = excluded.hash, updated_at_source = excluded.updated_at_source,
        last_task_id = excluded.last_task_id, synced_at = excluded.synced_at, removed_at = NULL
    WHERE r.hash <> excluded.hash OR r.removed_at IS NOT NULL
    RETURNING (xmax = 0) AS created
    """
)
REMOVE = text(
    """
    UPDATE portal_records SET removed_at = now(), last_task_id = :task_id, synced_at = now()
    WHERE tenant_id = :tenant_id AND entity = :entity AND external_id = ANY(CAST(:ids AS text[]))
      AND removed_at IS NULL
    """
)
LIVE_UNTOUCHED = text(
    """
    SELECT external_id FROM portal_records
    WHERE tenant_id = :tenant_id AND entity = :entity AND removed_at IS NULL AND synced_at < :since
    """
)


@dataclass
class Page:
    """A page split into what the database statements take."""

    rows: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)  # id -> (json, hash, updated_at)
    tombstones: list[str] = field(default_factory=list)
    failures: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)
    newest: datetime | None = None
    oldest_failure: datetime | None = None


def content_hash(encoded: bytes) -> str:
    return hashlib.md5(encoded, usedforsecurity=False).hexdigest()


def split_page(items: list[dict[str, Any]]) -> Page:
    page = Page()
    encode = msgspec.json.Encoder(order="sorted").encode
    for item in items:
        external_id = item.get("id")
        try:
            if not isinstance(external_id, str) or not external_id:
                raise ValueError("record has no id")
            updated_at = datetime.fromisoformat(item["updated_at"])
            if updated_at.tzinfo is None:
                raise ValueError("updated_at has no time zone")
        except (KeyError, TypeError, ValueError) as exc:
            page.failures.append((external_id if isinstance(external_id, str) else None, str(exc), item))
            stamp = item.get("updated_at")
            moment = _parse(stamp) if isinstance(stamp, str) else None
            if moment and (page.oldest_failure is None or moment < page.oldest_failure):
                page.oldest_failure = moment
            continue
        if page.newest is None or updated_at > page.newest:
            page.newest = updated_at
        if item.get("deleted"):
            page.tombstones.append(external_id)
            page.rows.pop(external_id, None)
            continue
        encoded = encode({k: v for k, v in item.items() if k not in _ENVELOPE})
        page.rows[external_id] = (encoded.decode(), content_hash(encoded), updated_at)
    return page


def _parse(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


async def prefetch(source: AsyncIterator[T], depth: int = 2) -> AsyncIterator[T]:
    """Fetch the next pages while the current one is written."""
    queue: asyncio.Queue[tuple[T | None, BaseException | None, bool]] = asyncio.Queue(depth)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((item, None, False))
        except BaseException as exc:
            await queue.put((None, exc, True))
            return
        await queue.put((None, None, True))

    task = asyncio.create_task(pump())
    try:
        while True:
            item, error, done = await queue.get()
            if error is not None:
                raise error
            if done:
                return
            yield item  # type: ignore[misc]
    finally:
        task.cancel()


async def run_import(ctx: TaskContext, sync: SyncDefinition, client: CoreSystemClient) -> TaskOutcome:
    """Run one import sync to the end; returns the outcome with its counters in ``ctx``."""
    runtime = ctx.runtime
    keys = {"tenant_id": ctx.tenant_id, "entity": sync.entity, "task_id": ctx.task_id}
    started = utcnow()
    await sync_state.clear_failures(runtime, ctx.task_id)
    since: datetime | None = None
    source_start: datetime | None = None
    if sync.mode == "incremental":
        watermark = await sync_state.read_watermark(runtime, ctx.tenant_id, sync.key)
        since = (watermark - OVERLAP) if watermark else EPOCH
    else:
        source_start = (await client.ping()).now  # incremental syncs of this entity may start here
    seen: set[str] = set()
    failed_at: datetime | None = None
    done = 0
    async for items in prefetch(client.iter_pages(sync.entity, since, limit=PAGE_SIZE)):
        page = split_page(items)
        if page.oldest_failure and (failed_at is None or page.oldest_failure < failed_at):
            failed_at = page.oldest_failure
        async with runtime.db.unit_of_work() as session:
            if page.rows:
                ids = list(page.rows)
                values = list(page.rows.values())
                result = await session.execute(
                    UPSERT,
                    {
                        **keys,
                        "ids": ids,
                        "data": [v[0] for v in values],
                        "hashes": [v[1] for v in values],
                        "ts": [v[2] for v in values],
                    },
                )
                written = result.scalars().all()
                created = sum(1 for c in written if c)
                ctx.count("created", created)
                ctx.count("updated", len(written) - created)
                ctx.count("unchanged", len(ids) - len(written))
                if sync.mode == "full":
                    seen.update(ids)
            if page.tombstones:
                removed = (await session.execute(REMOVE, {**keys, "ids": page.tombstones})).rowcount  # type: ignore[attr-defined]
                ctx.count("removed", removed)
                ctx.count("unchanged", len(page.tombstones) - removed)  # a re-read tombstone
            for external_id, error, record in page.failures:
                session.add(SyncFailure(tenant_id=ctx.tenant_id, task_id=ctx.task_id, external_id=external_id,
                                        error=error, record=record))  # fmt: skip
            ctx.count("failed", len(page.failures))
            if sync.mode == "incremental" and page.newest is not None:
                mark = page.newest if failed_at is None else min(page.newest, failed_at)
                await sync_state.advance_watermark(session, ctx.tenant_id, sync.key, mark)
        done += len(items)
        await ctx.progress(done)
    if sync.mode == "full":
        removed = await _remove_unseen(runtime, keys, seen, started)
        ctx.count("removed", removed)
        if source_start is not None:
            await _seed_incremental_watermarks(runtime, ctx, sync, source_start)
    for name in ("created", "updated", "unchanged", "removed", "failed"):
        ctx.count(name, 0)
    await ctx.progress(done, done, force=True)
    status = TaskStatus.partially_succeeded if ctx.counters["failed"] else TaskStatus.succeeded
    return TaskOutcome(status=status, result={"sync": sync.key, "entity": sync.entity, "read": done,
                                              "changed_since": since.isoformat() if since else None})  # fmt: skip


async def _remove_unseen(runtime: Any, keys: dict[str, Any], seen: set[str], started: datetime) -> int:
    async with runtime.db.unit_of_work() as session:
        live = (await session.execute(LIVE_UNTOUCHED, {**keys, "since": started})).scalars().all()
        gone = [external_id for external_id in live if external_id not in seen]
        removed = 0
        for start in range(0, len(gone), 10_000):
            result = await session.execute(REMOVE, {**keys, "ids": gone[start : start + 10_000]})
            removed += result.rowcount  # type: ignore[attr-defined]
    return removed


async def _seed_incremental_watermarks(
    runtime: Any, ctx: TaskContext, sync: SyncDefinition, source_start: datetime
) -> None:
    """Every change before the full run began is in it, so the entity's incremental syncs
    need not read further back than that."""
    followers = [s.key for s in SYNCS.values() if s.entity == sync.entity and s.mode == "incremental"]
    async with runtime.db.unit_of_work() as session:
        for key in followers:
            await sync_state.advance_watermark(session, ctx.tenant_id, key, source_start)
