"""The core system's edition gates "Reajustes de plano coletivo" (MG only), and the TISS tables
sync runs by itself when the core system's table version moves (seed 001, issue 15 items 6-7)."""

from __future__ import annotations

from typing import Any

from gateway.portal.tables import TISS_SYNC, watch_table_versions
from tests.portal.conftest import Portal

ADJUSTMENTS = "contractor.collective_plan_adjustment"


async def check(portal: Portal) -> dict[str, Any]:
    r = await portal.client.post("/v1/portal/connection/check", headers=portal.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_collective_plan_adjustments_only_run_on_mg_core_systems(portal: Portal, worker: Any) -> None:
    # The sandbox operator starts as the standard edition: the sync is shown unavailable, with why.
    sync = (await portal.client.get(f"/v1/portal/syncs/{ADJUSTMENTS}", headers=portal.headers)).json()
    assert (sync["available"], sync["editions"]) == (False, ["MG"])
    assert "only runs on MG core systems" in sync["unavailable_reason"] and "standard" in sync["unavailable_reason"]
    catalogue = (await portal.client.get("/v1/portal/syncs", headers=portal.headers)).json()["items"]
    assert [s["key"] for s in catalogue if not s["available"]] == [ADJUSTMENTS]

    r = await portal.client.post(f"/v1/portal/syncs/{ADJUSTMENTS}/runs", headers=portal.headers)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "sync_unavailable_for_edition" and r.json()["edition"] == "standard"
    assert "only runs on MG core systems" in r.json()["detail"]

    # The same core system switched to MG (and checked again) runs it.
    portal.core("PUT", "/_config", json={"edition": "MG"})
    await check(portal)
    sync = (await portal.client.get(f"/v1/portal/syncs/{ADJUSTMENTS}", headers=portal.headers)).json()
    assert (sync["available"], sync["unavailable_reason"]) == (True, None)
    run = await portal.run(ADJUSTMENTS, worker)
    assert run["status"] == "succeeded" and run["counters"]["created"] > 0

    # Reconfiguring the connection forgets the edition until the next check.
    body = {"base_url": portal.core_url, "token": portal.token}
    assert (await portal.client.put("/v1/portal/connection", json=body, headers=portal.headers)).status_code == 200
    await check(portal)
    assert (await portal.client.get(f"/v1/portal/syncs/{ADJUSTMENTS}", headers=portal.headers)).json()["available"]


async def test_tiss_tables_sync_runs_when_the_table_version_moves(portal: Portal, runtime: Any, worker: Any) -> None:
    # Nothing moved since the check: the watcher starts nothing.
    assert await watch_table_versions(runtime) == []
    portal.core("PUT", "/_config", json={"tables_version": 2})
    started = await watch_table_versions(runtime)
    assert len(started) == 1
    assert await watch_table_versions(runtime) == []  # one run per version
    await worker()
    runs = (await portal.client.get(f"/v1/portal/runs?sync={TISS_SYNC}", headers=portal.headers)).json()["items"]
    [run] = runs
    assert (run["id"], run["trigger"], run["status"]) == (str(started[0]), "tables_changed", "succeeded")
    assert run["counters"]["created"] > 0
    by_trigger = await portal.client.get("/v1/portal/runs?trigger=tables_changed", headers=portal.headers)
    assert [r["id"] for r in by_trigger.json()["items"]] == [run["id"]]

    # A move while a run is going waits for it; then the next tick starts the new version's run.
    portal.core("PUT", "/_config", json={"tables_version": 3})
    r = await portal.client.post(f"/v1/portal/syncs/{TISS_SYNC}/runs", headers=portal.headers)
    assert r.status_code == 202
    assert await watch_table_versions(runtime) == []
    await worker()
    [again] = await watch_table_versions(runtime)
    await worker()
    runs = (await portal.client.get("/v1/portal/runs?trigger=tables_changed", headers=portal.headers)).json()
    assert runs["items"][0]["id"] == str(again)  # newest first
