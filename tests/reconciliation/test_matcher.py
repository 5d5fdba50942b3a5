"""Ponte's matcher on sandbox data: tiers, the rule behind each pair, ambiguity, determinism."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from gateway.reconciliation import matcher
from gateway.reconciliation.models import CardSale, SaleMatch
from sandbox.boavista.ledger import DIVERGENCES
from tests.reconciliation.support import at_local, today_local

TODAY = today_local()
DAYS = [TODAY - timedelta(days=n) for n in (3, 2, 1)]


async def pairs(runtime, tenant_id) -> dict[str, list[tuple[int, str, tuple[str, ...]]]]:  # type: ignore[no-untyped-def]
    async with runtime.db.sessionmaker() as session:
        stmt = (
            select(CardSale.sale_id, SaleMatch.rule, SaleMatch.differences)
            .join(CardSale, CardSale.id == SaleMatch.sale_pk)
            .where(CardSale.tenant_id == tenant_id)
        )
        out: dict[str, list[tuple[int, str, tuple[str, ...]]]] = defaultdict(list)
        for sale_id, rule, differences in await session.execute(stmt):
            out[sale_id].append((*matcher.RULES[rule], tuple(matcher.differences(differences))))
        return {k: sorted(v) for k, v in out.items()}


async def rematch(runtime, boavista) -> matcher.MatchReport:  # type: ignore[no-untyped-def]
    return await matcher.match(runtime.db, boavista.tenant.tenant_id, boavista.code, DAYS[0], TODAY)


async def test_tiers_explain_each_pair_and_a_rerun_gives_the_same_pairs(runtime, boavista, worker) -> None:
    await boavista.enable()
    planted: dict[str, str] = {}
    for day in DAYS:
        erp = await boavista.erp_day(day)
        await boavista.post_sales(erp["items"])
        planted.update(erp["divergences"])
    # The fixture picks an establishment whose days carry every reason: each branch below runs.
    assert set(planted.values()) == set(DIVERGENCES)
    await boavista.run(at_local(TODAY, 12), worker)  # fetches the acquirer side and matches

    first = await pairs(runtime, boavista.tenant.tenant_id)
    sales = await boavista.sales()
    for sale_id in sales:
        reason = planted.get(sale_id)
        found = first.get(sale_id, [])
        if reason is None:
            assert found == [(2, matcher.TIER2_RULE, ())], sale_id
        elif reason in ("authorization", "amount", "installments"):
            assert found == [(3, "suggestion: same terminal, day and NSU", (reason,))], sale_id
        elif reason == "nsu":
            assert found == [(3, "suggestion: same terminal, day, authorization and amount", ("nsu",))], sale_id
        elif reason == "duplicate":  # two identical acquirer records: never a sure pair
            assert [f[0] for f in found] == [3, 3] and all(f[2] == () for f in found), sale_id
        else:
            assert found == [], sale_id

    again = await rematch(runtime, boavista)
    assert await pairs(runtime, boavista.tenant.tenant_id) == first
    assert again.tier2 == sum(1 for s in sales if s not in planted)

    # Once Boavista named the acquirer sale, tier 1 pairs on it, and says what still differs.
    [remittance_id] = {s.remittance_id for s in sales.values()}
    await boavista.deliver_returns(str(remittance_id), worker)
    report = await rematch(runtime, boavista)
    named = {sid for sid, s in (await boavista.sales()).items() if s.acquirer_sale_id}
    assert report.tier1 == len(named) and report.tier2 == 0
    after = await pairs(runtime, boavista.tenant.tenant_id)
    for sale_id in sales:
        reason = planted.get(sale_id)
        if reason is None:
            assert after[sale_id] == [(1, "acquirer_sale_id", ())]
        elif reason in ("authorization", "amount", "installments", "nsu"):
            assert after[sale_id] == [(1, "acquirer_sale_id", (reason,))]


async def test_a_run_that_fails_midway_leaves_the_previous_matches(runtime, boavista, worker, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The writer COPYs day after day in one transaction: when a run fails after some days
    were written, none of them is (here the run starts from no matches, so any day committed
    on its own would show)."""
    await boavista.enable()
    for day in DAYS:
        await boavista.post_sales((await boavista.erp_day(day))["items"])
    await boavista.run(at_local(TODAY, 12), worker)
    before = await pairs(runtime, boavista.tenant.tenant_id)
    assert before

    written: list[Counter[int]] = []
    count_rules = matcher._count_rules

    def fail_after_the_second_day(stream: bytes) -> Counter[int]:
        written.append(count_rules(stream))
        if len(written) == 2:
            raise RuntimeError("the worker died")
        return written[-1]

    monkeypatch.setattr(matcher, "_count_rules", fail_after_the_second_day)
    async with runtime.db.autocommit() as conn:  # what a fresh run would write differs from before
        await conn.execute(
            delete(SaleMatch).where(SaleMatch.sale_pk.in_([s.id for s in (await boavista.sales()).values()]))
        )
    with pytest.raises(RuntimeError, match="the worker died"):
        await rematch(runtime, boavista)
    assert len(written) == 2 and sum(written[0].values()) > 0  # a day was COPYed before the failure
    assert await pairs(runtime, boavista.tenant.tenant_id) == {}  # ...and rolled back with the rest

    monkeypatch.setattr(matcher, "_count_rules", count_rules)
    await rematch(runtime, boavista)
    assert await pairs(runtime, boavista.tenant.tenant_id) == before
