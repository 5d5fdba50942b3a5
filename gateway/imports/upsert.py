"""The one write path for imported records: bulk upserts with counters, per page.

Every source — a window of a portfolio, a single policy, a real-time push — goes through
``apply_records``. For one page it runs a handful of statements, whatever the page size: lock
the existing rows, one ``INSERT ... ON CONFLICT DO UPDATE`` for the policies, one for the
receipts, one insert for the status history and one for the result rows.

Rules it keeps:

* one row per (tenant, underwriting insurer, policy number) and per (tenant, underwriting
  insurer, receipt number): a policy read through an aggregator and through its insurer is
  one policy, and ``policy_sources`` records every source that read it;
* the content hash decides *updated* vs *unchanged*;
* **stale-snapshot guard**, in SQL (``gateway.imports.bulk``): a row is only overwritten by
  a snapshot at least as new as the one that wrote it (``WHERE excluded.as_of >= as_of``),
  whatever order tasks finish in. An unchanged record with a newer ``as_of`` still moves ``as_of`` forward, so a
  later-arriving middle snapshot cannot roll it back;
* a receipt settled at the broker (``settled_at``) keeps its status: an import bringing
  another one is counted ``settled_kept`` and reported in the results, not written;
* a record the database refuses fails alone: the page is retried record by record.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.imports import bulk
from gateway.imports.records import RecordError, policy_rows

log = structlog.get_logger("ponte.imports")


@dataclass
class Tally:
    """Counters (``policies_created``, ``receipts_stale_skipped``...) and result rows of a page."""

    counters: Counter[str] = field(default_factory=Counter)
    results: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.counters.update(other.counters)
        self.results.extend(other.results)


def classify(row: dict[str, Any], existing: Any) -> str:
    if existing is None:
        return "created"
    if row["as_of"] < existing.as_of:
        return "stale_skipped"
    return "unchanged" if row["content_hash"] == existing.content_hash else "updated"


def must_write(outcome: str, row: dict[str, Any], existing: Any) -> bool:
    """Created and updated rows, and unchanged ones confirmed by a newer snapshot (their
    ``as_of`` moves forward so an older snapshot arriving later is still recognised as stale)."""
    if outcome == "unchanged":
        return bool(row["as_of"] > existing.as_of)
    return outcome in ("created", "updated")


async def _existing(
    session: AsyncSession, statement: Any, tenant_id: uuid.UUID, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """Current rows for these (insurer, number) keys (the caller holds ``lock_portfolio``)."""
    if not keys:
        return {}
    params = {"tenant_id": tenant_id, "insurers": [k[0] for k in keys], "numbers": [k[1] for k in keys]}
    return {(r[0], r[1]): r for r in (await session.execute(statement, params)).all()}


def _receipt_key(row: dict[str, Any]) -> tuple[str, str]:
    return row["insurer"], row["receipt_number"]


async def apply_receipts(
    session: AsyncSession, tenant_id: uuid.UUID, rows: list[dict[str, Any]], *, task_id: uuid.UUID | None
) -> Tally:
    """Upsert receipt rows (each carries its underwriting insurer) and record their status transitions."""
    tally = Tally()
    rows = list({_receipt_key(r): r for r in sorted(rows, key=lambda r: r["as_of"])}.values())
    old = await _existing(session, bulk.CURRENT_RECEIPTS, tenant_id, [_receipt_key(r) for r in rows])
    writes: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for row in rows:
        before = old.get(_receipt_key(row))
        outcome = classify(row, before)
        if outcome != "stale_skipped" and before is not None and _settled_conflict(row, before):
            tally.counters["receipts_settled_kept"] += 1
            error = (
                f"settled at the broker as {before.status} on {before.settled_at:%Y-%m-%d}; "
                f"the import brought {row['status']}, left as it is"
            )
            tally.results.append(
                _result("receipt", row["policy_number"], row["receipt_number"], "settled_kept", error, row["as_of"])
            )
            continue
        tally.counters[f"receipts_{outcome}"] += 1
        if not must_write(outcome, row, before):
            continue
        writes.append(row)
        if before is None or before.status != row["status"]:
            history.append(
                {
                    "tenant_id": tenant_id, "insurer": row["insurer"], "receipt_number": row["receipt_number"],
                    "from_status": None if before is None else before.status, "to_status": row["status"],
                    "changed_on": row["status_changed_on"], "as_of": row["as_of"], "task_id": task_id,
                }
            )  # fmt: skip
    if writes:
        await bulk.execute(session, bulk.UPSERT_RECEIPTS, writes)
    if history:
        await bulk.execute(session, bulk.INSERT_HISTORY, history)
    return tally


def _settled_conflict(row: dict[str, Any], before: Any) -> bool:
    """A receipt settled locally whose status the import would change (seed 000: an import
    never undoes what the daily cash sheet settled)."""
    return before.settled_at is not None and row["status"] != before.status


async def _apply_valid(
    session: AsyncSession, tenant_id: uuid.UUID, source: Source, valid: list[Any], task_id: uuid.UUID | None
) -> Tally:
    tally = Tally()
    by_key = {
        (v.policy["insurer"], v.policy["policy_number"]): v for v in sorted(valid, key=lambda v: v.policy["as_of"])
    }
    if any(insurer != source.insurer for insurer, _ in by_key):
        await _adopt_legacy(session, tenant_id, source.insurer, list(by_key))
    old = await _existing(session, bulk.CURRENT_POLICIES, tenant_id, list(by_key))
    writes, receipts = [], []
    for (_, number), rows in by_key.items():
        before = old.get((rows.policy["insurer"], number))
        outcome = classify(rows.policy, before)
        tally.counters[f"policies_{outcome}"] += 1
        tally.results.append(_result("policy", number, None, outcome, None, rows.policy["as_of"]))
        receipts.extend(rows.receipts)
        if not must_write(outcome, rows.policy, before):
            continue
        writes.append(rows.policy)
    if writes:
        await bulk.execute(session, bulk.UPSERT_POLICIES, writes)
    sources = [
        {"tenant_id": tenant_id, "insurer": insurer, "policy_number": number, "source": source.insurer,
         "connection_id": source.connection_id, "last_task_id": task_id}
        for insurer, number in by_key
    ]  # fmt: skip
    await bulk.execute(session, bulk.UPSERT_SOURCES, sources)
    if receipts:
        tally.merge(await apply_receipts(session, tenant_id, receipts, task_id=task_id))
    return tally


async def _adopt_legacy(session: AsyncSession, tenant_id: uuid.UUID, source: str, keys: list[tuple[str, str]]) -> None:
    named = [k for k in keys if k[0] != source]
    params = {"tenant_id": tenant_id, "source": source, "insurers": [k[0] for k in named],
              "numbers": [k[1] for k in named]}  # fmt: skip
    for statement in bulk.ADOPT_LEGACY:
        await session.execute(statement, params)


def _result(
    kind: str, policy: str | None, receipt: str | None, outcome: str, error: str | None, as_of: Any, raw: Any = None
) -> dict[str, Any]:
    return {
        "record_type": kind, "policy_number": policy, "receipt_number": receipt, "outcome": outcome,
        "error": error, "as_of": as_of, "raw": raw,
    }  # fmt: skip


async def lock_portfolio(session: AsyncSession, tenant_id: uuid.UUID, *insurers: str) -> None:
    """Serialise page writes per (tenant, insurer) until commit, for each insurer given (in a
    fixed order, so two pages naming the same insurers never deadlock).

    Row locks cannot cover rows that do not exist yet: two tasks inserting the same new policy
    would both count it *created*. With this lock the rows read before the upsert are exactly
    the rows it meets, so the counters are true. Only the short page transactions queue up;
    fetching from the insurer goes on in parallel.
    """
    for insurer in sorted(set(insurers)):
        key = func.hashtextextended(f"imports:{tenant_id}:{insurer}", 0)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


@dataclass(frozen=True)
class Source:
    """Where a page was read: the connection's insurer (perhaps an aggregator) and the connection."""

    insurer: str
    connection_id: uuid.UUID | None = None


async def apply_records(
    session: AsyncSession,
    records: list[dict[str, Any]],
    *,
    tenant_id: uuid.UUID,
    insurer: str,
    task_id: uuid.UUID | None,
    connection_id: uuid.UUID | None = None,
) -> Tally:
    """Validate and upsert one page of policy records read from ``insurer`` (the source: each
    record may name another underwriting insurer); result rows are written for ``task_id``."""
    source = Source(insurer, connection_id)
    tally, valid = Tally(), []
    for raw in records:
        try:
            rows = policy_rows(raw, tenant_id=tenant_id, insurer=insurer)
        except RecordError as exc:
            tally.counters["policies_failed"] += 1
            tally.results.append(_result("policy", _label(raw), None, "failed", str(exc), None, _summary(raw)))
            continue
        for bad, error in rows.bad_receipts:
            tally.counters["receipts_failed"] += 1
            number = bad.get("receipt_number") if isinstance(bad, dict) else None
            tally.results.append(
                _result("receipt", rows.policy["policy_number"], number, "failed", error, rows.policy["as_of"], bad)
            )
        valid.append(rows)
    if valid:
        await lock_portfolio(session, tenant_id, insurer, *(v.policy["insurer"] for v in valid))
    tally.merge(await _apply_isolated(session, tenant_id, source, valid, task_id))
    if task_id is not None and tally.results:
        results = [{**r, "task_id": task_id, "tenant_id": tenant_id} for r in tally.results]
        await bulk.execute(session, bulk.INSERT_RESULTS, results)
    return tally


async def _apply_isolated(
    session: AsyncSession, tenant_id: uuid.UUID, source: Source, valid: list[Any], task_id: uuid.UUID | None
) -> Tally:
    """The whole page at once; if the database refuses it, record by record so only the
    refused record fails."""
    if not valid:
        return Tally()
    try:
        async with session.begin_nested():
            return await _apply_valid(session, tenant_id, source, valid, task_id)
    except DBAPIError as exc:
        if not _record_fault(exc):
            raise  # a lost connection, a deadlock...: the task's retry handles those
        if len(valid) == 1:
            policy = valid[0].policy
            log.warning("import_record_refused", policy_number=policy["policy_number"], error=str(exc.orig))
            tally = Tally()
            tally.counters["policies_failed"] += 1
            error = f"refused by the database: {type(exc.orig).__name__}"
            tally.results.append(_result("policy", policy["policy_number"], None, "failed", error, policy["as_of"]))
            return tally
    tally = Tally()
    for one in valid:
        tally.merge(await _apply_isolated(session, tenant_id, source, [one], task_id))
    return tally


def _record_fault(exc: DBAPIError) -> bool:
    """Data exceptions (SQLSTATE class 22, e.g. a NUL byte in text) and integrity violations
    (23) are one record's fault."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return str(sqlstate or "")[:2] in ("22", "23")


def _label(raw: Any) -> str | None:
    number = raw.get("policy_number") if isinstance(raw, dict) else None
    return number if isinstance(number, str) and number else None


def _summary(raw: Any) -> dict[str, Any] | None:
    """What identifies a bad record at the insurer (its receipts aside, to keep rows small)."""
    if not isinstance(raw, dict):
        return None
    return {k: v for k, v in raw.items() if k != "receipts" and isinstance(v, (str, int, float, bool, type(None)))}
