"""Manual imports end to end: API → task → worker → sandbox insurer → tables → API."""

from __future__ import annotations

from tests.imports.conftest import days_ago, get_import, launch, period, policies, receipts, set_faults


async def test_manual_rest_import_counts_and_detail(client, tenants, worker, runtime, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    launched = await launch(client, t, conn, period=period(days_ago(15), days_ago(0)))
    assert launched["chained"] == []
    assert launched["chain_reason"] is None
    task = launched["task"]
    assert task["status"] == "queued"
    assert task["trigger"] == "manual_period"
    await worker()
    done = await get_import(client, t, task["id"])
    assert done["status"] in ("succeeded", "partially_succeeded"), done
    stored = await policies(runtime, t.tenant_id)
    counters = done["counters"]
    assert counters["policies"]["created"] == len(stored) > 0
    assert counters["receipts"]["created"] == len(await receipts(runtime, t.tenant_id))
    r = await client.get(f"/v1/imports/{task['id']}/results", headers=t.headers, params={"limit": 500})
    rows = r.json()["items"]
    assert len([x for x in rows if x["record_type"] == "policy"]) == sum(counters["policies"].values())


async def test_reimport_overwrites_never_duplicates(client, tenants, worker, runtime, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    body = {"period": period(days_ago(15), days_ago(0))}
    first = (await launch(client, t, conn, **body))["task"]
    await worker()
    count = len(await policies(runtime, t.tenant_id))
    second = (await launch(client, t, conn, **body))["task"]
    await worker()
    again = (await get_import(client, t, second["id"]))["counters"]
    before = (await get_import(client, t, first["id"]))["counters"]["policies"]
    unchanged = before["created"]
    assert again["policies"] == {
        "created": 0,
        "updated": 0,
        "unchanged": unchanged,
        "stale_skipped": 0,
        "failed": before["failed"],
    }
    assert again["receipts"]["created"] == 0
    assert len(await policies(runtime, t.tenant_id)) == count


async def test_a_bad_record_fails_alone_and_shows_in_the_detail(client, tenants, worker, runtime, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    task = (await launch(client, t, conn, period=period(days_ago(365), days_ago(0))))["task"]
    await worker()
    done = await get_import(client, t, task["id"])
    assert done["status"] == "partially_succeeded"
    assert done["counters"]["policies"]["failed"] > 0
    assert done["counters"]["policies"]["created"] == len(await policies(runtime, t.tenant_id)) > 250
    r = await client.get(f"/v1/imports/{task['id']}/results", params={"outcome": "failed"}, headers=t.headers)
    failed = r.json()["items"]
    assert len(failed) == done["counters"]["policies"]["failed"]
    assert {f["error"] for f in failed} <= {"policy_number is missing"} | {
        f["error"] for f in failed if f["error"].startswith("start_date") and "is not a valid date" in f["error"]
    }
    csv = await client.get(f"/v1/imports/{task['id']}/results.csv", headers=t.headers)
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0] == "record_type,policy_number,receipt_number,outcome,error,as_of"
    assert len(lines) - 1 == sum(done["counters"]["policies"].values())
    assert sum(",failed," in line for line in lines) == len(failed)
    only_failed = await client.get(
        f"/v1/imports/{task['id']}/results.csv", params={"outcome": "failed"}, headers=t.headers
    )
    failed_lines = only_failed.text.strip().splitlines()
    assert failed_lines[0] == lines[0]
    assert len(failed_lines) - 1 == len(failed) and all(",failed," in line for line in failed_lines[1:])


async def test_long_period_is_split_into_the_insurers_windows(client, tenants, worker, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    task = (await launch(client, t, conn, period=period(days_ago(39), days_ago(0))))["task"]
    assert task["windows"] == [
        period(days_ago(39), days_ago(24)),
        period(days_ago(23), days_ago(8)),
        period(days_ago(7), days_ago(0)),
    ]
    await worker()
    done = await get_import(client, t, task["id"])
    assert done["status"] in ("succeeded", "partially_succeeded")
    assert done["progress"] == {"done": 3, "total": 3}


async def test_past_period_chains_forward_only_for_as_of_period_insurers(client, tenants, worker, connect) -> None:
    t = await tenants.create()
    allianz, ageas = await connect(t, "allianz"), await connect(t, "ageas")
    launched = await launch(client, t, allianz, period=period(days_ago(90), days_ago(60)))
    chained = launched["chained"]
    assert [c["period"] for c in chained] == [period(days_ago(59), days_ago(29)), period(days_ago(28), days_ago(0))]
    assert all(c["chained_from"] == launched["task"]["id"] for c in chained)
    assert "as they were in the period asked" in launched["chain_reason"]
    current = await launch(client, t, ageas, period=period(days_ago(90), days_ago(60)))
    assert current["chained"] == []
    assert current["chain_reason"] is None
    await worker()
    history = (await client.get(f"/v1/insurer-connections/{allianz['id']}/imports", headers=t.headers)).json()
    assert {h["status"] for h in history["items"]} == {"succeeded"}
    assert len(history["items"]) == 3


async def test_invalid_periods_are_422_problems(client, tenants, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "allianz")
    url = f"/v1/insurer-connections/{conn['id']}/imports"
    cases = {
        "/period/to": period(days_ago(1), days_ago(-1)),
        "/period/from": period(days_ago(3), days_ago(5)),
        "/period": period(days_ago(400), days_ago(0)),
    }
    for pointer, bad in cases.items():
        r = await client.post(url, json={"period": bad}, headers=t.headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert pointer in [e["pointer"] for e in r.json()["errors"]]
    r = await client.post(url, json={}, headers=t.headers)
    assert r.status_code == 422


async def test_single_policy_and_reimport_from_the_policy_list(client, tenants, worker, runtime, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "zurich")
    await launch(client, t, conn, period=period(days_ago(10), days_ago(0)))
    await worker()
    stored = await policies(runtime, t.tenant_id)
    number = stored[0].policy_number
    task = (await launch(client, t, conn, policy_number=number))["task"]
    assert task["trigger"] == "single_policy"
    r = await client.post(f"/v1/policies/{stored[0].id}/reimport", headers=t.headers)
    assert r.status_code == 202
    assert r.json()["trigger"] == "reimport"
    missing = (await launch(client, t, conn, policy_number="ZUR-000-9999999"))["task"]
    await worker()
    for task_id in (task["id"], r.json()["id"]):
        done = await get_import(client, t, task_id)
        assert done["status"] == "succeeded"
        assert sum(done["counters"]["policies"].values()) == 1
    failed = await get_import(client, t, missing["id"])
    assert (failed["status"], failed["error_code"]) == ("failed", "not_found")
    history = await client.get(
        f"/v1/insurer-connections/{conn['id']}/imports", params={"trigger": "reimport"}, headers=t.headers
    )
    assert [h["id"] for h in history.json()["items"]] == [r.json()["id"]]
    history = await client.get(
        f"/v1/insurer-connections/{conn['id']}/imports", params={"status": "failed"}, headers=t.headers
    )
    assert [h["id"] for h in history.json()["items"]] == [missing["id"]]


async def test_transient_partner_errors_are_retried_with_backoff(
    client, tenants, worker, connect, sandbox_faults
) -> None:

    t = await tenants.create()
    conn = await connect(t, "warta")
    # Seeded draws: the first requests fail with 503, later ones pass.
    await set_faults(sandbox_faults, error_rate=0.5, seed=3)
    task = (await launch(client, t, conn, period=period(days_ago(5), days_ago(0))))["task"]
    await worker()
    done = await get_import(client, t, task["id"])
    assert done["status"] in ("succeeded", "partially_succeeded"), done
    assert done["attempt"] > 1


async def test_queued_import_can_be_cancelled(client, tenants, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    task = (await launch(client, t, conn, period=period(days_ago(5), days_ago(0))))["task"]
    r = await client.post(f"/v1/tasks/{task['id']}/cancel", headers=t.headers)
    assert r.status_code == 202
    assert (await get_import(client, t, task["id"]))["status"] == "cancelled"
