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

_CLEAR = text("DELETE FROM sale_matches WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to")

# One statement, so each table is read once: tier 2 only sees what tier 1 left, tier 3 what
# both left. Keys are made unique with hash aggregates (HAVING count(*) = 1), never by picking
# one row of several, which is what keeps a re-run identical.
_MATCH = text(f"""
WITH s AS MATERIALIZED (
    SELECT id, local_day, nsu, authorization_code, gross_amount_cents, installments, brand, terminal_id,
           acquirer_sale_id
    FROM card_sales WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to
), a AS MATERIALIZED (
    SELECT id, local_day, nsu, authorization_code, gross_amount_cents, installments, brand, terminal_id,
           acquirer_sale_id
    FROM acquirer_sales
    WHERE tenant_id = :tenant AND establishment_code = :code AND local_day BETWEEN :day_from AND :day_to
), named AS (  -- two sales naming one acquirer record: neither is a sure pair
    SELECT min(id) AS id FROM s WHERE acquirer_sale_id IS NOT NULL GROUP BY acquirer_sale_id HAVING count(*) = 1
), t1 AS MATERIALIZED (
    SELECT s.id AS sale_pk, a.id AS acquirer_pk, s.local_day, {_DIFFERENCES} AS differences
    FROM named JOIN s ON s.id = named.id JOIN a ON a.acquirer_sale_id = s.acquirer_sale_id
), candidates AS (  -- the raw join on the tier-2 key...
    SELECT s.id AS sale_pk, a.id AS acquirer_pk, {TIER2_KEY} FROM s JOIN a USING ({TIER2_KEY})
), unique_keys AS (  -- ...kept where the key holds exactly one sale and one acquirer record
    SELECT min(sale_pk) AS sale_pk, min(acquirer_pk) AS acquirer_pk, local_day FROM candidates
    GROUP BY {TIER2_KEY} HAVING min(sale_pk) = max(sale_pk) AND min(acquirer_pk) = max(acquirer_pk)
), t2 AS MATERIALIZED (  -- and neither side already paired by tier 1
    SELECT * FROM unique_keys u
    WHERE NOT EXISTS (SELECT FROM t1 WHERE t1.sale_pk = u.sale_pk)
      AND NOT EXISTS (SELECT FROM t1 WHERE t1.acquirer_pk = u.acquirer_pk)
), paired AS (
    SELECT sale_pk, acquirer_pk FROM t1 UNION ALL SELECT sale_pk, acquirer_pk FROM t2
), ls AS MATERIALIZED (
    SELECT * FROM s WHERE NOT EXISTS (SELECT FROM paired p WHERE p.sale_pk = s.id)
), la AS MATERIALIZED (
    SELECT * FROM a WHERE NOT EXISTS (SELECT FROM paired p WHERE p.acquirer_pk = a.id)
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
    RETURNING tier
)
SELECT tier, count(*) FROM inserted GROUP BY tier
""")


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
    # Big hash aggregates and joins stay in memory instead of spilling to disk.
    await session.execute(text("SET LOCAL work_mem = '256MB'"))
    await session.execute(_CLEAR, params)
    by_tier = {int(tier): int(n) for tier, n in await session.execute(_MATCH, params)}
    return MatchReport(tier1=by_tier.get(1, 0), tier2=by_tier.get(2, 0), suggestions=by_tier.get(3, 0))
