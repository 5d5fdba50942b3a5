"""Fixed-shape bulk statements: one array parameter per column, ``unnest`` in SQL.

A page of 500 policies as a multi-row ``VALUES`` is a new 9,000-parameter statement every
time, and SQLAlchemy spends longer compiling it than PostgreSQL spends running it. Passing one
array per column keeps the statement text constant (prepared once per connection) and its
size independent of the page: one round trip per page and table.

A column with the same value in every row of a big page (the tenant, the task, the insurer,
the snapshot's ``as_of``, a currency) travels once, as a scalar, instead of as an array of
copies: encoding those copies was a third of what the driver spent on a page, and the
database decoded each of them again. Which columns are shared picks one of a few statement
texts per table; pages under ``SHARED_FROM`` rows send every column as an array, so small
writes keep one statement.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

SHARED_FROM = 100  # rows

POLICY_COLUMNS = {
    "tenant_id": "uuid", "insurer": "text", "policy_number": "text", "product": "text", "status": "text",
    "holder_name": "text", "holder_tax_id": "text", "holder_tax_id_type": "text", "start_date": "date",
    "end_date": "date", "premium_cents": "bigint", "currency": "text", "updated_on": "date",
    "as_of": "timestamptz", "content_hash": "bytea",
}  # fmt: skip
RECEIPT_COLUMNS = {
    "tenant_id": "uuid", "insurer": "text", "receipt_number": "text", "policy_number": "text", "due_date": "date",
    "amount_cents": "bigint", "currency": "text", "status": "text", "status_changed_on": "date",
    "as_of": "timestamptz", "content_hash": "bytea",
}  # fmt: skip
HISTORY_COLUMNS = {
    "tenant_id": "uuid", "insurer": "text", "receipt_number": "text", "from_status": "text", "to_status": "text",
    "changed_on": "date", "as_of": "timestamptz", "task_id": "uuid",
}  # fmt: skip
RESULT_COLUMNS = {
    "task_id": "uuid", "tenant_id": "uuid", "record_type": "text", "policy_number": "text",
    "receipt_number": "text", "outcome": "text", "error": "text", "as_of": "timestamptz", "raw": "jsonb",
}  # fmt: skip


class BulkStatement:
    """A statement over the rows of one call: ``sql(source, picks)`` gets the ``unnest(...) AS u``
    source and the select list of ``columns`` (in their order, each aliased to its name)."""

    def __init__(self, columns: dict[str, str], sql: Callable[[str, str], str]) -> None:
        self.columns = columns
        self._sql = sql
        self.text = lru_cache(maxsize=32)(self._text)

    def _text(self, shared: frozenset[str]) -> TextClause:
        arrays = [c for c in self.columns if c not in shared]
        source = ", ".join(f"CAST(:{c} AS {_wire(self.columns[c])}[])" for c in arrays)
        picks = ", ".join(_pick(c, kind, c in shared) for c, kind in self.columns.items())
        return text(self._sql(f"unnest({source}) AS u({', '.join(arrays)})", picks))

    def params(self, rows: list[dict[str, Any]]) -> tuple[TextClause, dict[str, Any]]:
        """The statement text for these rows, and its parameters."""
        params: dict[str, Any] = {}
        shared: set[str] = set()
        for column, kind in self.columns.items():
            values = [row.get(column) for row in rows]
            if kind == "jsonb":
                values = [None if v is None else msgspec.json.encode(v).decode() for v in values]
            if len(values) >= SHARED_FROM and values.count(values[0]) == len(values):
                shared.add(column)
                params[column] = values[0]
            else:
                params[column] = values
        if len(shared) == len(self.columns):  # one array stays, to give the rows their number
            first = next(iter(self.columns))
            shared.discard(first)
            params[first] = [params[first]] * len(rows)
        return self.text(frozenset(shared)), params


def _wire(kind: str) -> str:
    return "text" if kind == "jsonb" else kind  # jsonb travels as text


def _pick(column: str, kind: str, shared: bool) -> str:
    value = f"CAST(:{column} AS {_wire(kind)})" if shared else f"u.{column}"
    return f"{value}::jsonb AS {column}" if kind == "jsonb" else f"{value} AS {column}"


def upsert_statement(table: str, columns: dict[str, str], key: tuple[str, ...]) -> BulkStatement:
    data = [c for c in columns if c not in key]
    return BulkStatement(
        columns,
        lambda source, picks: (
            f"INSERT INTO {table} (id, {', '.join(columns)}) SELECT gen_random_uuid(), {picks} FROM {source} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in data)}, "
            # "updated since" means the content changed, not that a newer snapshot confirmed it.
            f"updated_at = CASE WHEN excluded.content_hash <> {table}.content_hash THEN now() "
            f"ELSE {table}.updated_at END "
            # The stale-snapshot guard: never overwrite from an older snapshot; same as_of and
            # same content is nothing to write.
            f"WHERE excluded.as_of > {table}.as_of "
            f"OR (excluded.as_of = {table}.as_of AND excluded.content_hash <> {table}.content_hash)"
        ),
    )


def insert_statement(table: str, columns: dict[str, str]) -> BulkStatement:
    return BulkStatement(
        columns, lambda source, picks: f"INSERT INTO {table} ({', '.join(columns)}) SELECT {picks} FROM {source}"
    )


def current_statement(table: str, number: str, extra: str = "") -> TextClause:
    """The stored version of each (underwriting insurer, number): what decides created /
    updated / unchanged / stale.

    One probe of the unique index per number, whatever the statistics say: a ``LATERAL``
    subquery with ``LIMIT 1`` cannot be flattened into a join, so the planner can neither
    scan the whole table per page (``= ANY(array)``, or a hash join once the table is
    analysed) nor, before the first ANALYZE, probe ``policy_receipts`` through
    ``ix_policy_receipts_policy`` (same leading columns) and filter every receipt of the
    insurer for each number: per page that grew with the table, 13 s for 3,000 receipts
    among 30,000, against 20 ms for the probes.

    The tenant comes in through a subquery the planner cannot fold (``OFFSET 0``), so it
    plans for a tenant of average size rather than for this one's statistics: once the
    table is analysed, a tenant absent from the statistics (a new one, or one that had
    nothing yet) looked empty, and the probes again went through ``ix_policy_receipts_policy``
    filtering every row of the tenant, which its own import was adding page after page
    (10 s per page of 3,000 receipts by the end of 60,000).
    """
    return text(
        f"SELECT t.insurer, t.{number}, t.as_of, t.content_hash{extra} "
        "FROM (SELECT CAST(:tenant_id AS uuid) AS id OFFSET 0) AS k "
        "CROSS JOIN unnest(CAST(:insurers AS text[]), CAST(:numbers AS text[])) AS n(insurer, number) "
        f"CROSS JOIN LATERAL (SELECT t.insurer, t.{number}, t.as_of, t.content_hash{extra} FROM {table} t "
        f"WHERE t.tenant_id = k.id AND t.insurer = n.insurer AND t.{number} = n.number LIMIT 1) AS t"
    )


CURRENT_POLICIES = current_statement("policies", "policy_number")
CURRENT_RECEIPTS = current_statement("policy_receipts", "receipt_number", ", t.status, t.settled_at")
UPSERT_POLICIES = upsert_statement("policies", POLICY_COLUMNS, ("tenant_id", "insurer", "policy_number"))
UPSERT_RECEIPTS = upsert_statement("policy_receipts", RECEIPT_COLUMNS, ("tenant_id", "insurer", "receipt_number"))
INSERT_HISTORY = insert_statement("receipt_status_changes", HISTORY_COLUMNS)
SOURCE_COLUMNS = {
    "tenant_id": "uuid", "insurer": "text", "policy_number": "text", "source": "text", "connection_id": "uuid",
    "last_task_id": "uuid",
}  # fmt: skip
# Which sources read the policy (an aggregator and the insurer itself), and when last.
UPSERT_SOURCES = BulkStatement(
    SOURCE_COLUMNS,
    lambda source, picks: (
        f"INSERT INTO policy_sources ({', '.join(SOURCE_COLUMNS)}, first_seen_at, last_seen_at) "
        f"SELECT DISTINCT ON (insurer, policy_number, source) {picks}, now(), now() FROM {source} "
        "ON CONFLICT (tenant_id, insurer, policy_number, source) DO UPDATE SET last_seen_at = now(), "
        "connection_id = excluded.connection_id, last_task_id = excluded.last_task_id"
    ),
)
# Policies an aggregator imported before policies were keyed on their underwriting insurer
# carry the aggregator's code. The first read that names the underwriter moves them, their
# receipts and the receipts' history to it (history first: it is found through the receipts),
# unless the underwriter's own policy already exists.
_NAMED = (
    "unnest(CAST(:insurers AS text[]), CAST(:numbers AS text[])) AS n(insurer, number)",
    "n.insurer <> :source AND NOT EXISTS (SELECT 1 FROM policies q WHERE q.tenant_id = :tenant_id "
    "AND q.insurer = n.insurer AND q.policy_number = n.number)",
)
ADOPT_LEGACY = (
    text(
        f"UPDATE receipt_status_changes h SET insurer = n.insurer FROM policy_receipts r JOIN {_NAMED[0]} "
        f"ON r.policy_number = n.number WHERE r.tenant_id = :tenant_id AND r.insurer = :source AND {_NAMED[1]} "
        "AND h.tenant_id = r.tenant_id AND h.insurer = r.insurer AND h.receipt_number = r.receipt_number"
    ),
    text(
        f"UPDATE policy_receipts r SET insurer = n.insurer FROM {_NAMED[0]} WHERE r.tenant_id = :tenant_id "
        f"AND r.insurer = :source AND r.policy_number = n.number AND {_NAMED[1]}"
    ),
    text(
        f"UPDATE policies p SET insurer = n.insurer FROM {_NAMED[0]} WHERE p.tenant_id = :tenant_id "
        f"AND p.insurer = :source AND p.policy_number = n.number AND {_NAMED[1]}"
    ),
)
INSERT_RESULTS = insert_statement("import_results", RESULT_COLUMNS)


async def execute(session: AsyncSession, statement: BulkStatement, rows: list[dict[str, Any]]) -> None:
    """Run ``statement`` once for all ``rows``."""
    await session.execute(*statement.params(rows))
