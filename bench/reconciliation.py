"""Card-sales reconciliation: Ponte's tiered matcher on 1,000,000 ERP sales against about
1,000,000 acquirer records with 2% planted divergences.

Prints matched pairs/s end to end (all three tiers, written to ``sale_matches``) and the ratio
to a single raw SQL join of the same data producing the same tier-2 pairs, measured in the
same run on the same database. Data is loaded with COPY.

Run: ``uv run python -m bench.reconciliation [--scale 0.1]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import BenchStack, Report
from gateway.reconciliation import acquirer, matcher
from gateway.reconciliation.models import CARD_FIELDS
from gateway.reconciliation.windows import window_end

CODE = "1020304050"
TZ = "America/Sao_Paulo"
FIRST_DAY = date(2024, 5, 7)
DAYS = 4
TERMINALS = 20
REASONS = ("authorization", "installments", "amount", "not_found", "duplicate", "nsu")
SALE_COLUMNS = (
    "tenant_id",
    "sale_id",
    *CARD_FIELDS,
    "status",
    "acquirer_sale_id",
    "version",
    "window_ends_at",
    "created_at",
    "updated_at",
)
ACQUIRER_COLUMNS = ("tenant_id", "establishment_code", "acquirer_sale_id", *acquirer.UPDATABLE, "fetched_at")
RAW_JOIN = """
CREATE TEMP TABLE raw_pairs AS
SELECT s.id AS sale_pk, a.id AS acquirer_pk
FROM card_sales s JOIN acquirer_sales a ON a.tenant_id = s.tenant_id AND a.local_day = s.local_day
    AND a.nsu = s.nsu AND a.authorization_code = s.authorization_code
    AND a.gross_amount_cents = s.gross_amount_cents AND a.installments = s.installments
WHERE s.tenant_id = $1 AND a.establishment_code = $2
"""


def generate(
    tenant_id: uuid.UUID, count: int, seed: int = 4
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """ERP rows, acquirer rows, and how many sales carry no divergence (all of them must pair)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    sales: list[tuple[Any, ...]] = []
    records: list[tuple[Any, ...]] = []
    clean = 0
    per_day = count // DAYS
    for i in range(count):
        day = FIRST_DAY + timedelta(days=min(i // per_day, DAYS - 1))
        seq = i % per_day
        sold_at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC) + timedelta(seconds=seq * 50_000 // per_day)
        terminal, nsu = f"T{seq % TERMINALS:03d}", f"{seq // TERMINALS + 1:06d}"
        auth, amount = f"{rng.randrange(200_000):06d}", 290 + rng.randrange(50_000)
        credit = rng.random() < 0.55
        installments = (1 + rng.randrange(6)) if credit else 1
        brand, payment = ("visa", "credit") if credit else ("elo", "debit")
        acquirer_id = f"CIE{day:%y%m%d}{i:010d}"
        reason = REASONS[rng.randrange(6)] if rng.random() < 0.02 else None
        record = (
            tenant_id,
            CODE,
            acquirer_id,
            sold_at,
            day,
            amount,
            "BRL",
            installments,
            brand,
            payment,
            nsu,
            auth,
            terminal,
            "cielo",
            now,
        )
        erp_auth, erp_amount, erp_installments = auth, amount, installments
        if reason == "authorization":
            erp_auth = f"{(int(auth) + 1) % 200_000:06d}"
        elif reason == "installments":
            erp_installments = 1 if installments > 1 else 3
        elif reason == "amount":
            erp_amount = amount + 1 + seq % 450
        elif reason == "nsu":
            record = (*record[:10], f"{800_000 + int(nsu):06d}", *record[11:])
        if reason != "not_found":
            records.append(record)
        if reason == "duplicate":
            records.append((*record[:2], acquirer_id + "D", *record[3:]))
        clean += reason is None
        # A quarter of the clean sales were named by an earlier Boavista return: tier 1 pairs them.
        known = acquirer_id if reason is None and i % 4 == 0 else None
        sales.append(
            (
                tenant_id,
                f"E{i:09d}",
                sold_at,
                day,
                erp_amount,
                "BRL",
                erp_installments,
                brand,
                payment,
                nsu,
                erp_auth,
                terminal,
                "sent",
                known,
                1,
                window_end(day, TZ),
                now,
                now,
            )
        )
    return sales, records, clean


async def main(scale: float, rounds: int) -> None:
    count = int(1_000_000 * scale)
    async with BenchStack() as stack:
        tenant_id = stack.tenant.tenant_id
        report = Report(f"Card reconciliation matcher: {count:,} ERP sales, 2% divergences, {DAYS} local days")
        started = time.perf_counter()
        sales, records, clean = generate(tenant_id, count)
        report.figure("generate rows", time.perf_counter() - started, "s")
        conn = await asyncpg.connect(stack.settings.database_url)
        try:
            started = time.perf_counter()
            await conn.copy_records_to_table("card_sales", records=sales, columns=SALE_COLUMNS)
            await conn.copy_records_to_table("acquirer_sales", records=records, columns=ACQUIRER_COLUMNS)
            # Steady state, as autovacuum and the checkpointer leave a table between runs: both
            # measurements below then read the same settled pages.
            await conn.execute("VACUUM ANALYZE card_sales, acquirer_sales")
            await conn.execute("CHECKPOINT")
            report.figure("COPY + VACUUM ANALYZE + CHECKPOINT", time.perf_counter() - started, "s")
            report.figure("acquirer records", len(records), "rows")
            del sales, records
            # Same memory budget as the matcher's transaction, so neither side spills to disk.
            await conn.execute("SET work_mem = '256MB'")
            await conn.execute(RAW_JOIN, tenant_id, CODE)  # warm the caches
            await conn.execute("DROP TABLE raw_pairs")
            last = FIRST_DAY + timedelta(days=DAYS - 1)
            await matcher.match(stack.runtime.db, tenant_id, CODE, FIRST_DAY, last)  # warm up too
            # Rounds alternate the two measurements, so both see the same machine; medians count.
            raw_times, match_times = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                await conn.execute(RAW_JOIN, tenant_id, CODE)
                raw_times.append(time.perf_counter() - started)
                raw_pairs = await conn.fetchval("SELECT count(*) FROM raw_pairs")
                await conn.execute("DROP TABLE raw_pairs")
                await conn.execute("TRUNCATE sale_matches")  # each round matches from scratch
                started = time.perf_counter()
                result = await matcher.match(stack.runtime.db, tenant_id, CODE, FIRST_DAY, last)
                match_times.append(time.perf_counter() - started)
        finally:
            await conn.close()
        # Each round measures both back to back, under the same conditions; the round with the
        # median ratio is reported (the ratio of two medians would pair different rounds).
        ratios = [(result.matched / m) / (raw_pairs / r) for r, m in zip(raw_times, match_times, strict=True)]
        middle = ratios.index(statistics.median_low(ratios))
        raw_seconds, seconds = raw_times[middle], match_times[middle]
        again_started = time.perf_counter()
        again = await matcher.match(stack.runtime.db, tenant_id, CODE, FIRST_DAY, last)
        again_seconds = time.perf_counter() - again_started

        for n, (r, m, ratio) in enumerate(zip(raw_times, match_times, ratios, strict=True), 1):
            report.line(f"  round {n}: raw join {r:.2f} s, matcher {m:.2f} s, ratio {ratio:.3f}")
        report.figure("raw join (ceiling), median round", raw_seconds, "s")
        report.figure("raw join pairs/s", raw_pairs / raw_seconds, "pairs/s")
        report.figure("Ponte matcher, 3 tiers, median round", seconds, "s")
        report.line(
            f"  tier 1 {result.tier1:,}  tier 2 {result.tier2:,}  suggestions {result.suggestions:,}  "
            f"(clean sales {clean:,}: {'all paired' if result.matched == clean else 'MISMATCH'}; "
            f"re-run {'identical' if again == result else 'DIFFERENT'})"
        )
        report.figure("Ponte matched/s", result.matched / seconds, "pairs/s")
        report.figure("re-run (replaces the same matches)", again_seconds, "s")
        report.ratio(
            "matched/s vs raw join pairs/s",
            result.matched / seconds,
            raw_pairs / raw_seconds,
            target=0.25,
            unit="pairs/s",
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the 1,000,000 sales (0.05 for a quick run)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="raw join and matcher, measured alternately")
    args = parser.parse_args()
    asyncio.run(main(args.scale, args.rounds))
