"""Ponte's own matcher: pairs ERP sales with acquirer records in tiers, set-based in SQL.

1. ``acquirer_sale_id`` — the acquirer's unique id, once Boavista's return named it (also for
   a divergent sale: the pair then lists the fields that still differ).
2. establishment + NSU + authorization + local day + amount + installments, kept only when the
   key is unique on both sides (a duplicated acquirer record pairs with nothing).
3. suggestions for what is left: same terminal and day with the same NSU, or the same
   authorization and amount (a reprocessed NSU); each lists the fields that differ.

A run replaces the matches of its days, and each tier is a pure function of the data (no
"first come" choices), so re-running on the same data gives the same pairs and reasons.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

TIER2_RULE = "establishment+nsu+authorization+local_day+amount+installments"
TIER2_KEY = "local_day, nsu, authorization_code, gross_amount_cents, installments"

_DIFFERENCES = """array_remove(ARRAY[
    CASE WHEN s.nsu <> a.nsu THEN 'nsu' END,
    CASE WHEN s.authorization_code <> a.authorization_code THEN 'authorization' END,
    CASE WHEN s.gross_amount_cents <> a.gross_amount_cents THEN 'amount' END,
    CASE WHEN s.installments <> a.installments THEN 'installments' END,
    CASE WHEN s.brand <> a.brand THEN 'brand' END]::varchar[], NULL)"""

# Through the sales of the days, so the primary key (sale_pk first) finds the rows: filtering
# sale_matches on tenant and day would scan every tenant's matches of every day ever matched.
_CLEAR = text(
    "DELETE FROM sale_matches m USING card_sales s"
    " WHERE s.tenant_id = :tenant AND s.local_day BETWEEN :day_from AND :day_to AND m.sale_pk = s.id"
)

_SALES = "card_sales WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to"
_RECORDS = (
    "acquirer_sales WHERE tenant_id = :tenant AND establishment_code = :code"
    " AND local_day BETWEEN :day_from AND :day_to"
)

# One statement, few passes over a million rows each (measured: every extra pass, anti-join or
# materialised million-row CTE costs about as much as the raw join itself):
# - t1: named sales joined to their acquirer record; a record named by two sales pairs with neither.
# - g: ONE hash aggregate over both sides by the tier-2 key (counts, first/last id per side)
#   instead of join + aggregate + anti-joins. A key is tier-2 unique when it has one row per side.
# - a unique key whose sale is in t1 is not a tier-2 pair; nor one whose record is in t1 with a
#   sale of another key ("crossing" t1 pairs, the only way a record can be in t1 while the
#   key's single sale is not), so the record side is checked against that small set only.
# - leftovers for tier 3 come from g (ids of non-unique keys, re-read from the table only for
#   keys with more than two rows on a side) plus the keys a crossing t1 pair broke up.
# - rows are written in sale_pk order: the primary key then grows at its right edge (measured
#   ~2x cheaper than inserting in hash order).
# Every choice is a pure function of the data (counts, never "first come"), so re-runs agree.
_MATCH = text(f"""
WITH t1 AS MATERIALIZED (
    SELECT min(sale_pk) AS sale_pk, acquirer_pk, min(local_day) AS local_day, min(differences) AS differences,
           bool_and(same_key) AS same_key
    FROM (SELECT s.id AS sale_pk, a.id AS acquirer_pk, s.local_day, {_DIFFERENCES} AS differences,
                 (s.local_day, s.nsu, s.authorization_code, s.gross_amount_cents, s.installments)
                 = (a.local_day, a.nsu, a.authorization_code, a.gross_amount_cents, a.installments) AS same_key
          FROM (SELECT * FROM {_SALES} AND acquirer_sale_id IS NOT NULL) s
          JOIN (SELECT * FROM {_RECORDS}) a ON a.acquirer_sale_id = s.acquirer_sale_id) named
    GROUP BY acquirer_pk HAVING count(*) = 1
), g AS MATERIALIZED (
    SELECT {TIER2_KEY}, count(*) FILTER (WHERE side = 0) AS sales, count(*) FILTER (WHERE side = 1) AS records,
           min(id) FILTER (WHERE side = 0) AS first_sale, max(id) FILTER (WHERE side = 0) AS last_sale,
           min(id) FILTER (WHERE side = 1) AS first_record, max(id) FILTER (WHERE side = 1) AS last_record
    FROM (SELECT 0 AS side, id, {TIER2_KEY} FROM {_SALES}
          UNION ALL SELECT 1, id, {TIER2_KEY} FROM {_RECORDS}) both_sides
    GROUP BY {TIER2_KEY}
), t2 AS (
    SELECT first_sale AS sale_pk, first_record AS acquirer_pk, local_day FROM g
    WHERE sales = 1 AND records = 1
      AND NOT EXISTS (SELECT FROM t1 WHERE t1.sale_pk = g.first_sale)
      AND NOT EXISTS (SELECT FROM t1 WHERE t1.acquirer_pk = g.first_record AND NOT t1.same_key)
), crossing AS (  -- the tier-2 keys of both sides of the crossing t1 pairs
    SELECT s.local_day, s.nsu, s.authorization_code, s.gross_amount_cents, s.installments
    FROM t1 JOIN card_sales s ON s.id = t1.sale_pk WHERE NOT t1.same_key
    UNION
    SELECT a.local_day, a.nsu, a.authorization_code, a.gross_amount_cents, a.installments
    FROM t1 JOIN acquirer_sales a ON a.id = t1.acquirer_pk WHERE NOT t1.same_key
), left_ids AS (  -- side 0 sales, 1 acquirer records, that tier 2 did not pair (t1 removed below)
    SELECT l.side, l.id FROM g CROSS JOIN LATERAL (VALUES
        (0, CASE WHEN sales <= 2 THEN first_sale END), (0, CASE WHEN sales = 2 THEN last_sale END),
        (1, CASE WHEN records <= 2 THEN first_record END), (1, CASE WHEN records = 2 THEN last_record END)
    ) l(side, id)
    WHERE l.id IS NOT NULL AND (NOT (sales = 1 AND records = 1) OR ({TIER2_KEY}) IN (SELECT * FROM crossing))
    UNION ALL
    SELECT 0, s.id FROM (SELECT * FROM {_SALES}) s JOIN g USING ({TIER2_KEY}) WHERE g.sales > 2
    UNION ALL
    SELECT 1, a.id FROM (SELECT * FROM {_RECORDS}) a JOIN g USING ({TIER2_KEY}) WHERE g.records > 2
), ls AS MATERIALIZED (
    SELECT * FROM card_sales s WHERE id = ANY (ARRAY(SELECT id FROM left_ids WHERE side = 0))
      AND NOT EXISTS (SELECT FROM t1 WHERE t1.sale_pk = s.id)
), la AS MATERIALIZED (
    SELECT * FROM acquirer_sales a WHERE id = ANY (ARRAY(SELECT id FROM left_ids WHERE side = 1))
      AND NOT EXISTS (SELECT FROM t1 WHERE t1.acquirer_pk = a.id)
), t3 AS (
    SELECT s.id AS sale_pk, a.id AS acquirer_pk, s.local_day, 'suggestion: same terminal, day and NSU' AS rule,
           {_DIFFERENCES} AS differences
    FROM ls s JOIN la a ON a.local_day = s.local_day AND a.terminal_id = s.terminal_id AND a.nsu = s.nsu
    UNION ALL
    SELECT s.id, a.id, s.local_day, 'suggestion: same terminal, day, authorization and amount', {_DIFFERENCES}
    FROM ls s JOIN la a ON a.local_day = s.local_day AND a.terminal_id = s.terminal_id
        AND a.authorization_code = s.authorization_code AND a.gross_amount_cents = s.gross_amount_cents
        AND a.nsu <> s.nsu
), inserted AS (
    INSERT INTO sale_matches (sale_pk, acquirer_pk, tenant_id, local_day, tier, rule, differences)
    SELECT sale_pk, acquirer_pk, :tenant, local_day, 1, 'acquirer_sale_id', differences FROM t1
    UNION ALL
    SELECT sale_pk, acquirer_pk, :tenant, local_day, 2, '{TIER2_RULE}', '{{}}' FROM t2
    UNION ALL
    SELECT sale_pk, acquirer_pk, :tenant, local_day, 3, rule, differences FROM t3
    ORDER BY sale_pk
    RETURNING tier
)
SELECT tier, count(*) FROM inserted GROUP BY tier
""")

# Row estimates through these CTEs are far off (a million rows estimated as one), which can lead
# the planner into nested-loop anti-joins that never finish; hash joins are right at every size
# here. Partial (parallel) aggregation of a near-unique key only adds a merge step.
_PLANNER = {"enable_nestloop": "off", "enable_mergejoin": "off", "max_parallel_workers_per_gather": "0"}


@dataclass(frozen=True)
class MatchReport:
    tier1: int
    tier2: int
    suggestions: int

    @property
    def matched(self) -> int:
        return self.tier1 + self.tier2


async def match(
    session: AsyncSession, tenant_id: uuid.UUID, establishment_code: str, day_from: date, day_to: date
) -> MatchReport:
    """Recompute the matches of ERP sales of local days ``day_from``..``day_to``."""
    params = {"tenant": tenant_id, "code": establishment_code, "day_from": day_from, "day_to": day_to}
    await session.execute(_CLEAR, params)  # planned as usual: index probes for a pharmacy's few days
    # Big hash aggregates and joins stay in memory instead of spilling to disk.
    await session.execute(text("SET LOCAL work_mem = '256MB'"))
    for name, value in _PLANNER.items():
        await session.execute(text(f"SET LOCAL {name} = {value}"))
    by_tier = {int(tier): int(n) for tier, n in await session.execute(_MATCH, params)}
    for name in _PLANNER:  # the rest of the transaction plans as usual
        await session.execute(text(f"RESET {name}"))
    return MatchReport(tier1=by_tier.get(1, 0), tier2=by_tier.get(2, 0), suggestions=by_tier.get(3, 0))
