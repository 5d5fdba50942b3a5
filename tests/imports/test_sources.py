"""Several connections per insurer (issue 15 item 1), aggregators never duplicating a policy
(item 2) and the preview before import (item 3), against the sandbox insurers (seed 002)."""

from __future__ import annotations

from sqlalchemy import select, update

from gateway.imports.models import Policy, PolicySource
from tests.imports.conftest import days_ago, get_import, launch, period, policies

WINDOW = period(days_ago(15), days_ago(0))


async def sources(runtime, tenant_id) -> dict[tuple[str, str], set[str]]:  # type: ignore[no-untyped-def]
    async with runtime.db.sessionmaker() as session:
        rows = await session.scalars(select(PolicySource).where(PolicySource.tenant_id == tenant_id))
        out: dict[tuple[str, str], set[str]] = {}
        for s in rows:
            out.setdefault((s.insurer, s.policy_number), set()).add(s.source)
        return out


async def test_two_warta_lines_are_two_connections_each_with_its_own_history(
    client, tenants, worker, runtime, connect
) -> None:
    t = await tenants.create()
    prop = await connect(t, "warta")
    life = await connect(t, "warta", options={"product": "life"}, schedule={"time": "07:00"})
    assert prop["id"] != life["id"] and life["schedule"]["time"] == "07:00"
    dup = await client.post(
        "/v1/insurer-connections",
        json={"insurer": "warta", "credentials": {"username": "b", "password": "sandbox"},
              "options": {"product": "life"}},
        headers=t.headers,
    )  # fmt: skip
    assert dup.status_code == 409 and "with these options" in dup.json()["detail"]
    r = await client.patch(f"/v1/insurer-connections/{life['id']}", json={"options": {"product": "property"}},
                           headers=t.headers)  # fmt: skip
    assert r.status_code == 409  # the property line already exists

    p_task = (await launch(client, t, prop, period=WINDOW))["task"]
    l_task = (await launch(client, t, life, period=WINDOW))["task"]
    await worker()
    stored = await policies(runtime, t.tenant_id)
    life_products = {"Życie", "Życie i zdrowie", "Życie z funduszem"}
    assert {p.product for p in stored} & life_products and {p.product for p in stored} - life_products
    for conn, task in ((prop, p_task), (life, l_task)):
        history = await client.get(f"/v1/insurer-connections/{conn['id']}/imports", headers=t.headers)
        assert [i["id"] for i in history.json()["items"]] == [task["id"]]
        assert (await get_import(client, t, task["id"]))["counters"]["policies"]["created"] > 0


async def test_a_manual_import_may_override_the_connections_options(client, tenants, worker, runtime, connect) -> None:
    t = await tenants.create()
    prop = await connect(t, "warta")
    bad = await client.post(f"/v1/insurer-connections/{prop['id']}/imports",
                            json={"period": WINDOW, "options": {"product": "car"}}, headers=t.headers)  # fmt: skip
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/options/product"
    launched = await launch(client, t, prop, period=WINDOW, options={"product": "life"})
    assert launched["task"]["options"] == {"product": "life"}
    await worker()
    assert (await get_import(client, t, launched["task"]["id"]))["status"] in ("succeeded", "partially_succeeded")
    life_products = {"Życie", "Życie i zdrowie", "Życie z funduszem"}
    assert {p.product for p in await policies(runtime, t.tenant_id)} <= life_products
    conn = (await client.get(f"/v1/insurer-connections/{prop['id']}", headers=t.headers)).json()
    assert conn["options"] == {"product": "property"}  # the connection itself is unchanged


async def test_an_aggregator_and_the_insurer_make_one_policy_with_both_sources(
    client, tenants, worker, runtime, connect
) -> None:
    t = await tenants.create()
    insly = await connect(t, "insly")
    warta = await connect(t, "warta")
    await launch(client, t, insly, period=WINDOW)
    await worker()
    via_insly = {(p.insurer, p.policy_number) for p in await policies(runtime, t.tenant_id)}
    assert "insly" not in {i for i, _ in via_insly}  # every policy is keyed on its underwriter
    assert {"warta", "pzu"} <= {i for i, _ in via_insly}
    await launch(client, t, warta, period=WINDOW)
    await worker()
    stored = await policies(runtime, t.tenant_id)
    keys = [(p.insurer, p.policy_number) for p in stored]
    assert len(keys) == len(set(keys))
    assert len({p.policy_number for p in stored}) == len(stored)  # never the same number twice
    both = {k for k, s in (await sources(runtime, t.tenant_id)).items() if s == {"insly", "warta"}}
    assert both and all(k[0] == "warta" for k in both)
    # The policy's detail lists both sources.
    async with runtime.db.sessionmaker() as session:
        policy_id = await session.scalar(
            select(Policy.id).where(Policy.tenant_id == t.tenant_id, Policy.policy_number == next(iter(both))[1])
        )
    detail = (await client.get(f"/v1/policies/{policy_id}", headers=t.headers)).json()
    assert {s["source"] for s in detail["sources"]} == {"insly", "warta"}
    assert detail["policy"]["insurer"] == "warta"


async def test_legacy_aggregator_rows_are_moved_to_their_underwriter_not_duplicated(runtime, tenants) -> None:
    from gateway.imports.upsert import apply_records
    from tests.imports.test_rules import record

    t = await tenants.create()
    legacy = record("WAR-1-0000001", insurer="insly")
    async with runtime.db.unit_of_work() as session:  # as stored before policies named their underwriter
        await apply_records(session, [legacy], tenant_id=t.tenant_id, insurer="insly", task_id=None)
    [before] = await policies(runtime, t.tenant_id)
    assert before.insurer == "insly"
    named = record("WAR-1-0000001", as_of="2026-08-31T23:59:59Z", underwriting_insurer="warta")
    async with runtime.db.unit_of_work() as session:
        tally = await apply_records(session, [named], tenant_id=t.tenant_id, insurer="insly", task_id=None)
    assert dict(tally.counters) == {"policies_unchanged": 1, "receipts_unchanged": 1}
    [after] = await policies(runtime, t.tenant_id)
    assert (after.id, after.insurer) == (before.id, "warta")


async def test_preview_lists_with_flags_then_imports_the_chosen_numbers(
    client, tenants, worker, runtime, connect
) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    # Some of the period's policies are in Ponte already: one read directly.
    first = (await launch(client, t, conn, period=period(days_ago(15), days_ago(8))))["task"]
    await worker()
    known = {p.policy_number for p in await policies(runtime, t.tenant_id)}
    assert known
    # One of them as an older import left it: the insurer's content now differs.
    stale = sorted(known)[0]
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(Policy).where(Policy.tenant_id == t.tenant_id, Policy.policy_number == stale)
            .values(content_hash=b"0" * 16)
        )  # fmt: skip

    r = await client.post(f"/v1/insurer-connections/{conn['id']}/previews", json={"period": WINDOW}, headers=t.headers)
    assert r.status_code == 202, r.text
    preview_id = r.json()["id"]
    assert r.json()["trigger"] == "preview"
    await worker()
    assert (await client.get(f"/v1/import-previews/{preview_id}", headers=t.headers)).json()["status"] == "succeeded"
    items = (await client.get(f"/v1/import-previews/{preview_id}/items?limit=500", headers=t.headers)).json()["items"]
    assert len(await policies(runtime, t.tenant_id)) == len(known)  # the preview imported nothing
    listed = {i["policy_number"]: i for i in items if i["policy_number"]}
    in_ponte = {n for n, i in listed.items() if i["in_ponte"]}
    assert in_ponte and in_ponte <= known
    assert all(not i["preselected"] for n, i in listed.items() if n in in_ponte)  # excluded by default
    if stale in listed:
        assert listed[stale]["in_ponte"] and listed[stale]["changed"]
    assert not any(i["changed"] for n, i in listed.items() if n != stale)
    assert all(i["preselected"] for i in listed.values() if not i["in_ponte"] and i["error"] is None)
    only_known = await client.get(f"/v1/import-previews/{preview_id}/items?in_ponte=true&limit=500", headers=t.headers)
    assert {i["policy_number"] for i in only_known.json()["items"]} == in_ponte

    # Import two chosen numbers: one new, one already in Ponte.
    new = sorted(n for n, i in listed.items() if i["preselected"])
    chosen = [new[0], sorted(in_ponte)[0]]
    launched = await launch(client, t, conn, preview_id=preview_id, policy_numbers=chosen)
    assert launched["task"]["trigger"] == "preview_selection" and launched["task"]["selected"] == 2
    await worker()
    done = await get_import(client, t, launched["task"]["id"])
    assert done["counters"]["policies"]["created"] == 1
    assert sum(done["counters"]["policies"].values()) == 2
    assert {p.policy_number for p in await policies(runtime, t.tenant_id)} == known | {new[0]}

    # Without numbers, the preselected ones; unknown numbers and foreign previews are refused.
    rest = await launch(client, t, conn, preview_id=preview_id)
    assert rest["task"]["selected"] == len(new)
    bad = await client.post(f"/v1/insurer-connections/{conn['id']}/imports",
                            json={"preview_id": preview_id, "policy_numbers": ["nope"]}, headers=t.headers)  # fmt: skip
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/policy_numbers"
    other = await connect(t, "warta", options={"product": "life"})
    foreign = await client.post(f"/v1/insurer-connections/{other['id']}/imports",
                                json={"preview_id": preview_id}, headers=t.headers)  # fmt: skip
    assert foreign.status_code == 422
    assert (await client.get(f"/v1/import-previews/{first['id']}", headers=t.headers)).status_code == 404
