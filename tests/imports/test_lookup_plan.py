"""The per-page lookup of stored rows probes the unique key, whatever the statistics say.

Before a table's first ANALYZE (a new install, a first big import) the planner knows nothing
of its contents; after it, a tenant the statistics have not seen (a new one) looks empty. In
both cases the lookup must still cost a few index probes per record, not a scan of every
receipt of the tenant or insurer already stored, or each page of an import gets slower as the
table fills.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from gateway.imports import bulk
from gateway.runtime import Runtime

STORED, ASKED = 20_000, 1_000


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
@pytest.mark.parametrize(("table", "statement"), [("policy_receipts", bulk.CURRENT_RECEIPTS),
                                                   ("policies", bulk.CURRENT_POLICIES)])  # fmt: skip
@pytest.mark.parametrize("stats", ["never_analysed", "analysed_without_the_tenant"])
async def test_lookup_probes_the_unique_key(
    runtime: Runtime, table: str, statement: Any, mode: str, stats: str
) -> None:
    tenant, number = uuid.uuid4(), "receipt_number" if table == "policy_receipts" else "policy_number"
    # Analysed with another tenant's rows only: the statistics say the asked tenant has none.
    owner = tenant if stats == "never_analysed" else uuid.uuid4()
    async with runtime.db.sessionmaker() as session, session.begin():
        # A temporary copy (same columns and indexes) hides the shared table in this session,
        # and autovacuum never analyses temporary tables.
        await session.execute(text(f"CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL) ON COMMIT DROP"))
        columns = {"id": "gen_random_uuid()", "tenant_id": ":tenant", "insurer": "'warta'", number: "'N' || i",
                   "status": "'active'", "as_of": "now()", "content_hash": "'\\x00'::bytea"}  # fmt: skip
        if table == "policy_receipts":  # three receipts a policy
            columns |= {"policy_number": "'P' || i / 3", "amount_cents": "100"}
        await session.execute(
            text(f"INSERT INTO pg_temp.{table} ({', '.join(columns)}) "
                 f"SELECT {', '.join(columns.values())} FROM generate_series(1, {STORED}) AS i"),
            {"tenant": owner},
        )  # fmt: skip
        if stats == "analysed_without_the_tenant":
            await session.execute(text(f"ANALYZE pg_temp.{table}"))
        sql = statement.text.replace(":tenant_id", "$1").replace(":insurers", "$2").replace(":numbers", "$3")
        await session.execute(text(f"PREPARE lookup(uuid, text[], text[]) AS {sql}"))
        await session.execute(text(f"SET LOCAL plan_cache_mode = {mode}"))
        keys = ",".join(f'"N{i}"' for i in range(1, ASKED + 1))
        insurers = ",".join(["warta"] * ASKED)
        explained = await session.scalar(
            text(f"EXPLAIN (FORMAT JSON) EXECUTE lookup('{tenant}', '{{{insurers}}}', '{{{keys}}}')")
        )
        await session.execute(text("DEALLOCATE lookup"))
    plan = nodes((explained if isinstance(explained, list) else json.loads(explained))[0]["Plan"])
    scans = [n for n in plan if n.get("Relation Name") == table]
    assert scans, plan
    for scan in scans:  # an index probe on all three key columns, per asked number
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        assert number in scan["Index Cond"] and "insurer" in scan["Index Cond"], scan
