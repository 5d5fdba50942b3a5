"""Ponte's matcher against the plain definition of the tiers, on dense random data.

The reference below is the plain definition of the tiers in one statement (join, unique keys by
GROUP BY, anti-joins): slow at a million rows, obviously right. The matcher computes the same
thing with one aggregate per local day on several connections. The random data uses a handful
of values per field, so it is full of what the fast query handles by special paths: keys with
two or more rows on a side, sales naming the same acquirer record, tier-1 pairs whose sides
have different tier-2 keys, names of records out of scope, other establishments and days.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text

from gateway.reconciliation import matcher
from gateway.reconciliation.models import AcquirerSale, CardSale, SaleMatch

CODE = "5550001"
DAY = date(2024, 5, 7)
KEY = "nsu, authorization_code, gross_amount_cents, installments"
# The fields that differ, as matcher.DIFFERENCES flags, written out independently of the matcher.
MASK = " + ".join(
    f"CASE WHEN s.{column} <> a.{column} THEN {1 << matcher.DIFFERENCES.index(name)} ELSE 0 END"
    for name, column in (
        ("nsu", "nsu"),
        ("authorization", "authorization_code"),
        ("amount", "gross_amount_cents"),
        ("installments", "installments"),
        ("brand", "brand"),
    )
)

REFERENCE = text(f"""
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
    SELECT s.id AS sale_pk, a.id AS acquirer_pk, {MASK} AS differences
    FROM named JOIN s ON s.id = named.id JOIN a ON a.acquirer_sale_id = s.acquirer_sale_id
), s2 AS (  -- what tier 1 left
    SELECT * FROM s WHERE id NOT IN (SELECT sale_pk FROM t1)
), a2 AS (
    SELECT * FROM a WHERE id NOT IN (SELECT acquirer_pk FROM t1)
), candidates AS (  -- the raw join on the tier-2 key...
    SELECT s2.id AS sale_pk, a2.id AS acquirer_pk, local_day, {KEY}
    FROM s2 JOIN a2 USING (local_day, {KEY})
), t2 AS MATERIALIZED (  -- ...kept where the key holds exactly one sale and one acquirer record
    SELECT min(sale_pk) AS sale_pk, min(acquirer_pk) AS acquirer_pk FROM candidates
    GROUP BY local_day, {KEY} HAVING min(sale_pk) = max(sale_pk) AND min(acquirer_pk) = max(acquirer_pk)
), paired AS (
    SELECT sale_pk, acquirer_pk FROM t1 UNION ALL SELECT sale_pk, acquirer_pk FROM t2
), ls AS MATERIALIZED (
    SELECT * FROM s WHERE NOT EXISTS (SELECT FROM paired p WHERE p.sale_pk = s.id)
), la AS MATERIALIZED (
    SELECT * FROM a WHERE NOT EXISTS (SELECT FROM paired p WHERE p.acquirer_pk = a.id)
), t3 AS (
    SELECT s.id AS sale_pk, a.id AS acquirer_pk, 3 AS rule, {MASK} AS differences
    FROM ls s JOIN la a ON a.local_day = s.local_day AND a.terminal_id = s.terminal_id AND a.nsu = s.nsu
    UNION ALL
    SELECT s.id, a.id, 4, {MASK}
    FROM ls s JOIN la a ON a.local_day = s.local_day AND a.terminal_id = s.terminal_id
        AND a.authorization_code = s.authorization_code AND a.gross_amount_cents = s.gross_amount_cents
        AND a.nsu <> s.nsu
), inserted AS (
    INSERT INTO sale_matches (sale_pk, acquirer_pk, rule, differences)
    SELECT sale_pk, acquirer_pk, 1, differences FROM t1
    UNION ALL
    SELECT sale_pk, acquirer_pk, 2, 0 FROM t2
    UNION ALL
    SELECT sale_pk, acquirer_pk, rule, differences FROM t3
    RETURNING rule
)
SELECT least(rule, 3), count(*) FROM inserted GROUP BY 1
""")


def rows(tenant_id: uuid.UUID, seed: int) -> tuple[list[CardSale], list[AcquirerSale]]:
    rng = random.Random(seed)

    def fields() -> dict[str, object]:
        day = DAY + timedelta(days=rng.randrange(4))  # the last day is outside the matched range
        return {
            "tenant_id": tenant_id,
            "sold_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            "local_day": day,
            "gross_amount_cents": rng.choice((100, 200)),
            "currency": "BRL",
            "installments": rng.choice((1, 2)),
            "brand": rng.choice(("visa", "elo")),
            "payment_type": "credit",
            "nsu": rng.choice(("000001", "000002", "000003")),
            "authorization_code": rng.choice(("A1", "B2")),
            "terminal_id": rng.choice(("T1", "T2")),
        }

    records = [
        AcquirerSale(
            **fields(),
            establishment_code=CODE if rng.random() < 0.9 else "other",
            acquirer_sale_id=f"ACQ{i}",
            acquirer="cielo",
        )
        for i in range(70)
    ]
    sales = []
    for i in range(70):
        own = fields()
        if rng.random() < 0.3:  # a twin of a record: same tier-2 key (and often a duplicate key)
            twin = rng.choice(records)
            own |= {k: getattr(twin, k) for k in ("local_day", "nsu", "authorization_code", "gross_amount_cents")}
            own |= {"installments": twin.installments, "sold_at": twin.sold_at}
        named = f"ACQ{rng.randrange(80)}" if rng.random() < 0.4 else None  # ACQ70+ do not exist
        sales.append(
            CardSale(
                **own,
                sale_id=f"E{i}",
                status="sent",
                acquirer_sale_id=named,
                window_ends_at=datetime(2024, 6, 1, tzinfo=UTC),
            )
        )
    return sales, records


async def matches(session, tenant_id: uuid.UUID) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    stmt = (
        select(SaleMatch.sale_pk, SaleMatch.acquirer_pk, SaleMatch.rule, SaleMatch.differences)
        .join(CardSale, CardSale.id == SaleMatch.sale_pk)
        .where(CardSale.tenant_id == tenant_id)
    )
    return sorted(tuple(r) for r in await session.execute(stmt))


@pytest.mark.parametrize("seed", range(8))
async def test_matcher_gives_what_the_plain_definition_gives(runtime, tenants, seed: int) -> None:  # type: ignore[no-untyped-def]
    tenant_id = (await tenants.create()).tenant_id
    async with runtime.db.unit_of_work() as session:
        sales, records = rows(tenant_id, seed)
        session.add_all(records)
        session.add_all(sales)
    last = DAY + timedelta(days=2)
    report = await matcher.match(runtime.db, tenant_id, CODE, DAY, last)
    async with runtime.db.sessionmaker() as session:
        fast = await matches(session, tenant_id)
    async with runtime.db.unit_of_work() as session:
        await session.execute(delete(SaleMatch).where(SaleMatch.sale_pk.in_([s.id for s in sales])))
        params = {"tenant": tenant_id, "code": CODE, "day_from": DAY, "day_to": last}
        by_tier = dict((await session.execute(REFERENCE, params)).tuples().all())
        plain = await matches(session, tenant_id)
    assert fast == plain
    assert (report.tier1, report.tier2, report.suggestions) == (by_tier.get(1, 0), by_tier.get(2, 0), by_tier.get(3, 0))
    assert report.tier1 and report.tier2 and report.suggestions  # the data exercises every tier
