"""Ponte's own matcher: pairs ERP sales with acquirer records in tiers, set-based in SQL.

1. ``acquirer_sale_id``: the acquirer's unique id, once Boavista's return named it (also for a
   divergent sale: the pair then lists the fields that still differ). A record named by two
   sales pairs with neither.
2. establishment + NSU + authorization + local day + amount + installments, among what tier 1
   left: a key held by exactly one such sale and one such record (a duplicated acquirer record
   pairs with nothing).
3. suggestions for what is left: same terminal and day with the same NSU, or the same
   authorization and amount (a reprocessed NSU); each lists the fields that differ.

Every tier is a pure function of the data (counts, never "first come"), so re-running on the
same data gives the same pairs and reasons.

How a run is executed, because it handles a million sales in seconds:

- Only tier 1 crosses local days (a sale and its record may fall on either side of midnight).
  The writer connection computes it first, as one parallel query, inside a REPEATABLE READ
  transaction whose snapshot it exports.
- Tiers 2 and 3 compare sales and records of the same day. Day readers (``READERS`` pooled
  connections) import that snapshot, so every connection sees the same data, and compute one
  day at a time, each day's pairs sorted by sale.
- The writer clears the days' previous matches and COPYs every day's pairs into
  ``sale_matches`` as they come (a binary COPY stream passed through, never decoded into
  Python rows), then commits once: a run replaces its days' matches all at once or not at all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gateway.db.session import Database

TIER2_RULE = "establishment+nsu+authorization+local_day+amount+installments"
# rule code -> (tier, rule); sale_matches stores the code.
RULES: dict[int, tuple[int, str]] = {
    1: (1, "acquirer_sale_id"),
    2: (2, TIER2_RULE),
    3: (3, "suggestion: same terminal, day and NSU"),
    4: (3, "suggestion: same terminal, day, authorization and amount"),
}
SURE_RULES = (1, 2)  # one-to-one pairs; 3 and 4 are suggestions
# Bit i of ``sale_matches.differences`` set: the sale and the record differ on DIFFERENCES[i].
DIFFERENCES = ("nsu", "authorization", "amount", "installments", "brand")
READERS = 2

_MASK = """(((s.nsu <> a.nsu)::int) | ((s.authorization_code <> a.authorization_code)::int << 1)
    | ((s.gross_amount_cents <> a.gross_amount_cents)::int << 2) | ((s.installments <> a.installments)::int << 3)
    | ((s.brand <> a.brand)::int << 4))::smallint"""
_KEY = "nsu, authorization_code, gross_amount_cents, installments"  # and the local day, one per query
COLUMNS = ("sale_pk", "acquirer_pk", "rule", "differences")


def differences(mask: int) -> list[str]:
    return [name for bit, name in enumerate(DIFFERENCES) if mask & (1 << bit)]


# $1 tenant, $2 establishment, $3..$4 days. Tier-1 pairs as arrays per day of the sale (sales,
# their records, differences) and per day of the record (records). The arrays stay text all the
# way to the day readers: decoding and re-encoding a million ids in Python costs more than the SQL.
_TIER1 = f"""
SELECT sale_day, record_day, array_agg(sale_pk)::text, array_agg(acquirer_pk)::text, array_agg(differences)::text
FROM (SELECT min(s.id) AS sale_pk, a.id AS acquirer_pk, min(s.local_day) AS sale_day,
             min(a.local_day) AS record_day, min({_MASK}) AS differences
      FROM card_sales s JOIN acquirer_sales a ON a.tenant_id = s.tenant_id AND a.acquirer_sale_id = s.acquirer_sale_id
      WHERE s.tenant_id = $1 AND s.local_day BETWEEN $3 AND $4 AND s.acquirer_sale_id IS NOT NULL
        AND a.establishment_code = $2 AND a.local_day BETWEEN $3 AND $4
      GROUP BY a.id HAVING count(*) = 1) t1
GROUP BY GROUPING SETS ((sale_day), (record_day))
"""

# Through the sales of the days, so the primary key (sale_pk first) finds the rows.
_CLEAR = """DELETE FROM sale_matches m USING card_sales s
WHERE s.tenant_id = $1 AND s.local_day BETWEEN $2 AND $3 AND m.sale_pk = s.id"""

# One local day: $1 tenant, $2 establishment, $3 day; tier 1 of the day's sales as $4 sale ids,
# $6 record ids, $7 differences; $5 the day's records that tier 1 paired (with any day's sale).
# - g: ONE hash aggregate over both sides (minus tier 1) by the tier-2 key: counts and
#   first/last id per side. A key with one sale and one record is a tier-2 pair; the ids of the
#   other keys are what tier 3 looks at (re-read from the tables only for keys with more than
#   two rows on a side).
# - Output sorted by sale, so the writer's primary key grows in order (measured: half the cost
#   of inserting in hash order).
_DAY = f"""
WITH x_sales AS (SELECT unnest($4::text::bigint[]) AS id), x_records AS (SELECT unnest($5::text::bigint[]) AS id),
g AS (
    SELECT count(*) FILTER (WHERE side = 0) AS sales, count(*) FILTER (WHERE side = 1) AS records,
           min(id) FILTER (WHERE side = 0) AS first_sale, max(id) FILTER (WHERE side = 0) AS last_sale,
           min(id) FILTER (WHERE side = 1) AS first_record, max(id) FILTER (WHERE side = 1) AS last_record, {_KEY}
    FROM (SELECT 0 AS side, id, {_KEY} FROM card_sales
          WHERE tenant_id = $1 AND local_day = $3 AND (acquirer_sale_id IS NULL OR id NOT IN (SELECT id FROM x_sales))
          UNION ALL
          SELECT 1, id, {_KEY} FROM acquirer_sales
          WHERE tenant_id = $1 AND establishment_code = $2 AND local_day = $3
            AND id NOT IN (SELECT id FROM x_records)) both_sides
    GROUP BY {_KEY}
), keys AS MATERIALIZED (
    SELECT sales, records, first_sale, last_sale, first_record, last_record,
           CASE WHEN sales > 2 OR records > 2 THEN nsu END AS nsu,
           CASE WHEN sales > 2 OR records > 2 THEN authorization_code END AS authorization_code,
           CASE WHEN sales > 2 OR records > 2 THEN gross_amount_cents END AS gross_amount_cents,
           CASE WHEN sales > 2 OR records > 2 THEN installments END AS installments
    FROM g
), left_ids AS (  -- what tier 2 did not pair: a sale as +id, an acquirer record as -id
    SELECT l.x FROM keys CROSS JOIN LATERAL (VALUES
        (CASE WHEN sales <= 2 THEN first_sale END), (CASE WHEN sales = 2 THEN last_sale END),
        (CASE WHEN records <= 2 THEN -first_record END), (CASE WHEN records = 2 THEN -last_record END)) l(x)
    WHERE NOT (sales = 1 AND records = 1) AND l.x IS NOT NULL
    UNION ALL
    SELECT s.id FROM card_sales s JOIN keys k USING ({_KEY})
    WHERE k.sales > 2 AND s.tenant_id = $1 AND s.local_day = $3
      AND (s.acquirer_sale_id IS NULL OR s.id NOT IN (SELECT id FROM x_sales))
    UNION ALL
    SELECT -a.id FROM acquirer_sales a JOIN keys k USING ({_KEY})
    WHERE k.records > 2 AND a.tenant_id = $1 AND a.establishment_code = $2 AND a.local_day = $3
      AND a.id NOT IN (SELECT id FROM x_records)
), ls AS MATERIALIZED (
    SELECT * FROM card_sales WHERE id = ANY (ARRAY(SELECT x FROM left_ids WHERE x > 0))
), la AS MATERIALIZED (
    SELECT * FROM acquirer_sales WHERE id = ANY (ARRAY(SELECT -x FROM left_ids WHERE x < 0))
)
SELECT sale_pk, acquirer_pk, 1::smallint AS rule, differences
FROM unnest($4::text::bigint[], $6::text::bigint[], $7::text::smallint[]) t1(sale_pk, acquirer_pk, differences)
UNION ALL
SELECT first_sale, first_record, 2::smallint, 0::smallint FROM keys WHERE sales = 1 AND records = 1
UNION ALL
SELECT s.id, a.id, 3::smallint, {_MASK}
FROM ls s JOIN la a ON a.terminal_id = s.terminal_id AND a.nsu = s.nsu
UNION ALL
SELECT s.id, a.id, 4::smallint, {_MASK}
FROM ls s JOIN la a ON a.terminal_id = s.terminal_id
    AND a.authorization_code = s.authorization_code AND a.gross_amount_cents = s.gross_amount_cents
    AND a.nsu <> s.nsu
ORDER BY 1
"""

# Row estimates through these CTEs are far off (a million rows estimated as one), which can lead
# the planner into nested-loop joins that never finish; hash joins are right at every size here.
# Partial (parallel) aggregation of a near-unique key only adds a merge step; the day readers
# are the parallelism.
_PLANNER = {
    "work_mem": "'256MB'",
    "enable_nestloop": "off",
    "enable_mergejoin": "off",
    "max_parallel_workers_per_gather": "0",
}

# A binary COPY stream of COLUMNS: 19-byte header, then per row a 2-byte field count and, per
# field, a 4-byte length and the value (8, 8, 2, 2 bytes: no NULLs), then a 2-byte trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00"
_ROW = 2 + (4 + 8) + (4 + 8) + (4 + 2) + (4 + 2)
_RULE_BYTE = 2 + (4 + 8) + (4 + 8) + 4 + 1  # low byte of the big-endian rule


@dataclass(frozen=True)
class MatchReport:
    tier1: int
    tier2: int
    suggestions: int

    @property
    def matched(self) -> int:
        return self.tier1 + self.tier2


@dataclass
class _Tier1Day:
    """Array literals, e.g. ``{3,5}``: the day's sales paired by tier 1, their records and
    differences (aligned), and the day's records paired by tier 1 (with a sale of any day)."""

    sale_pks: str = "{}"
    acquirer_pks: str = "{}"
    differences: str = "{}"
    records: str = "{}"


async def match(
    db: Database, tenant_id: uuid.UUID, establishment_code: str, day_from: date, day_to: date
) -> MatchReport:
    """Recompute the matches of ERP sales of local days ``day_from``..``day_to``."""
    days = [day_from + timedelta(days=n) for n in range((day_to - day_from).days + 1)]
    async with db.driver_connection() as writer, writer.transaction(isolation="repeatable_read"):
        snapshot = await writer.fetchval("SELECT pg_export_snapshot()")
        await writer.execute("SET LOCAL work_mem = '256MB'")
        tier1: dict[date, _Tier1Day] = {day: _Tier1Day() for day in days}
        for sale_day, record_day, sale_pks, acquirer_pks, masks in await writer.fetch(
            _TIER1, tenant_id, establishment_code, day_from, day_to
        ):
            if record_day is None:  # the grouping set of the sales' days
                tier1[sale_day].sale_pks, tier1[sale_day].acquirer_pks = sale_pks, acquirer_pks
                tier1[sale_day].differences = masks
            else:
                tier1[record_day].records = acquirer_pks
        streams: dict[date, asyncio.Queue[bytes | None]] = {day: asyncio.Queue() for day in days}
        rules: Counter[int] = Counter()
        try:
            async with asyncio.TaskGroup() as readers:  # a reader's failure cancels the writer, and back
                for part in (days[n::READERS] for n in range(min(READERS, len(days)))):
                    readers.create_task(_read(db, snapshot, part, tenant_id, establishment_code, tier1, streams))
                # While the readers compute; planned as usual (index probes), unlike the day queries.
                await writer.execute(_CLEAR, tenant_id, day_from, day_to)
                for day in days:
                    rules += await _write(writer, streams[day])
        except ExceptionGroup as failed:  # the task records the cause, not "errors in a TaskGroup"
            raise failed.exceptions[0] from None
    return MatchReport(tier1=rules[1], tier2=rules[2], suggestions=rules[3] + rules[4])


async def _read(
    db: Database,
    snapshot: str,
    days: list[date],
    tenant_id: uuid.UUID,
    establishment_code: str,
    tier1: dict[date, _Tier1Day],
    streams: dict[date, asyncio.Queue[bytes | None]],
) -> None:
    async with db.driver_connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # an id PostgreSQL gave us
        for name, value in _PLANNER.items():
            await conn.execute(f"SET LOCAL {name} = {value}")
        for day in days:
            t1 = tier1[day]
            await conn.copy_from_query(
                _DAY,
                tenant_id,
                establishment_code,
                day,
                t1.sale_pks,
                t1.records,
                t1.acquirer_pks,
                t1.differences,
                output=streams[day].put,
                format="binary",
            )
            await streams[day].put(None)


async def _write(writer: Any, stream: asyncio.Queue[bytes | None]) -> Counter[int]:
    """COPY one day's pairs into sale_matches; count them by rule on the way."""
    data = bytearray()

    async def chunks() -> Any:
        while (chunk := await stream.get()) is not None:
            data.extend(chunk)
            yield chunk

    await writer.copy_to_table("sale_matches", source=chunks(), columns=COLUMNS, format="binary")
    return _count_rules(bytes(data))


def _count_rules(stream: bytes) -> Counter[int]:
    """Rows by rule in a binary COPY stream of COLUMNS: every row has the same size, so the
    rule bytes are every ``_ROW``-th byte from a fixed offset."""
    body = stream[19:-2]
    if not stream.startswith(_COPY_HEADER) or len(body) % _ROW:
        raise ValueError("unexpected COPY stream from the matcher's day query")
    rules = body[_RULE_BYTE::_ROW]
    return Counter({rule: rules.count(rule) for rule in RULES})
