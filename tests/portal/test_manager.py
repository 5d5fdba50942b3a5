"""The sync manager: connection gate, one run at a time, schedules, freshness and history."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from gateway.portal.catalogue import SYNCS
from gateway.portal.manager import freshness, start_due_runs
from gateway.tasks.models import Task
from tests.portal.conftest import Portal, connect

COUNTERS = {
    "import": {"created", "updated", "unchanged", "removed", "failed"},
    "export": {"exported", "already_exported", "failed"},
    "status": {"updated", "unchanged", "unknown"},
}


async def test_no_sync_runs_until_the_core_system_is_configured_and_checked(
    client: Any, tenants: Any, sandbox: Any, settings: Any
) -> None:
    t = await tenants.create()
    r = await client.post("/v1/portal/syncs/plan/runs", headers=t.headers)
    assert r.status_code == 404  # not a key
    r = await client.post("/v1/portal/syncs/beneficiary.plan/runs", headers=t.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "core_system_not_ready"
    assert "not configured" in r.json()["detail"]
    r = await client.put(
        "/v1/portal/connection", json={"base_url": f"{sandbox.url}/core", "token": "wrong"}, headers=t.headers
    )
    assert "token" not in r.json()
    assert r.json()["token_set"] is True
    assert r.json()["check_status"] == "unchecked"
    r = await client.post("/v1/portal/syncs/beneficiary.plan/runs", headers=t.headers)
    assert r.status_code == 409
    assert "not been checked" in r.json()["detail"]
    r = await client.post("/v1/portal/connection/check", headers=t.headers)
    assert r.json()["check_status"] == "failed"
    assert r.json()["check_error"].startswith("unauthorized")
    r = await client.post("/v1/portal/syncs/beneficiary.plan/runs", headers=t.headers)
    assert r.status_code == 409
    assert "check failed" in r.json()["detail"]
    catalogue = (await client.get("/v1/portal/syncs", headers=t.headers)).json()
    assert catalogue["core_system_ready"] is False
    assert catalogue["core_system_problem"]
    await connect(client, t.headers, f"{sandbox.url}/core", "sandbox-gate")
    r = await client.post("/v1/portal/syncs/beneficiary.plan/runs", headers=t.headers)
    assert r.status_code == 202
    other = await tenants.create()
    assert (await client.get("/v1/portal/connection", headers=other.headers)).status_code == 404
    assert (await client.get(f"/v1/portal/runs/{r.json()['id']}", headers=other.headers)).status_code == 404
    r = await client.put("/v1/portal/connection", json={"token": "sandbox-x"}, headers=other.headers)
    assert r.json()["base_url"] == f"{settings.sandbox_url}/core"  # the sandbox unless told otherwise


async def test_a_second_start_is_409_naming_the_running_run(portal: Portal, worker: Any) -> None:
    first = await portal.client.post("/v1/portal/syncs/beneficiary.full/runs", headers=portal.headers)
    second = await portal.client.post("/v1/portal/syncs/beneficiary.full/runs", headers=portal.headers)
    assert second.status_code == 409
    assert second.json()["running_task_id"] == first.json()["id"]
    # Another sync is not blocked by it.
    assert (await portal.client.post("/v1/portal/syncs/provider.full/runs", headers=portal.headers)).status_code == 202
    await worker()
    assert (
        await portal.client.post("/v1/portal/syncs/beneficiary.full/runs", headers=portal.headers)
    ).status_code == 202
    await worker()
    # Concurrent starts: exactly one wins.
    results = await asyncio.gather(
        *(portal.client.post("/v1/portal/syncs/contractor.contract/runs", headers=portal.headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [202, 409, 409, 409]


async def test_heavy_syncs_need_an_acknowledgement_to_run_daily(portal: Portal) -> None:
    put = portal.client.put
    for frequency in ("daily", "hourly"):
        r = await put(
            "/v1/portal/syncs/beneficiary.full/schedule", json={"frequency": frequency}, headers=portal.headers
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["pointer"] == "/acknowledge_heavy"
    r = await put("/v1/portal/syncs/beneficiary.full/schedule", json={"frequency": "weekly"}, headers=portal.headers)
    assert r.status_code == 200
    assert r.json()["schedule"]["frequency"] == "weekly"
    body = {"frequency": "daily", "acknowledge_heavy": True}
    r = await put("/v1/portal/syncs/beneficiary.full/schedule", json=body, headers=portal.headers)
    assert r.status_code == 200
    assert r.json()["schedule"]["heavy_acknowledged"] is True
    r = await put("/v1/portal/syncs/beneficiary.plan/schedule", json={"frequency": "daily"}, headers=portal.headers)
    assert r.status_code == 200
    tiss = (await portal.client.get("/v1/portal/syncs/tiss_price_table.full", headers=portal.headers)).json()
    assert tiss["recommended_schedule"] == "on_change"
    assert tiss["heavy"] is False


async def test_due_schedules_start_one_run_per_period(portal: Portal, worker: Any, runtime: Any) -> None:
    put = portal.client.put
    await put(
        "/v1/portal/syncs/beneficiary.marital_status/schedule", json={"frequency": "hourly"}, headers=portal.headers
    )
    await put("/v1/portal/syncs/beneficiary.full/schedule", json={"frequency": "weekly"}, headers=portal.headers)
    await put("/v1/portal/syncs/beneficiary.plan/schedule", json={"frequency": "on_demand"}, headers=portal.headers)
    t0 = datetime(2030, 1, 7, 10, 15, tzinfo=UTC)  # a Monday
    assert len(await start_due_runs(runtime, t0)) == 2
    assert await start_due_runs(runtime, t0 + timedelta(minutes=30)) == []
    # Next hour, but the previous run is still queued: the period counts as run.
    assert await start_due_runs(runtime, t0 + timedelta(hours=1)) == []
    await worker()
    started = await start_due_runs(runtime, t0 + timedelta(hours=2))
    assert len(started) == 1
    runs = (await portal.client.get("/v1/portal/runs?trigger=scheduled", headers=portal.headers)).json()["items"]
    assert sorted(r["sync_key"] for r in runs) == [
        "beneficiary.full",
        "beneficiary.marital_status",
        "beneficiary.marital_status",
    ]
    assert len(await start_due_runs(runtime, t0 + timedelta(days=7))) == 1  # the weekly one; hourly still queued


def test_freshness_is_late_after_one_missed_period_and_error_after_two() -> None:
    now = datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert freshness("hourly", now - timedelta(minutes=50), None, now) == "fresh"
    assert freshness("hourly", now - timedelta(minutes=70), None, now) == "late"
    assert freshness("hourly", now - timedelta(minutes=130), None, now) == "error"
    assert freshness("daily", None, now - timedelta(hours=30), now) == "late"  # never ran since scheduled
    assert freshness("on_demand", None, None, now) == "on_demand"


async def test_catalogue_shows_last_run_and_freshness(portal: Portal, worker: Any, runtime: Any) -> None:
    put = portal.client.put
    await put("/v1/portal/syncs/beneficiary.plan/schedule", json={"frequency": "hourly"}, headers=portal.headers)
    run = await portal.run("beneficiary.plan", worker)
    catalogue = (await portal.client.get("/v1/portal/syncs", headers=portal.headers)).json()
    assert len(catalogue["items"]) == 52
    assert catalogue["core_system_ready"] is True
    plan = next(s for s in catalogue["items"] if s["key"] == "beneficiary.plan")
    assert plan["last_run"]["id"] == run["id"]
    assert plan["last_run"]["status"] == "succeeded"
    assert plan["freshness"] == "fresh"
    described = {s["title"]: s for s in catalogue["items"] if s["description_source"] == "ponte"}
    assert set(described) == {"Documentos Pendetes", "Saldo Devedor"}
    for backdate, expected in ((90, "late"), (150, "error")):
        async with runtime.db.unit_of_work() as session:
            moment = datetime.now(UTC) - timedelta(minutes=backdate)
            await session.execute(update(Task).where(Task.id == run["id"]).values(finished_at=moment))
        plan = (await portal.client.get("/v1/portal/syncs/beneficiary.plan", headers=portal.headers)).json()
        assert plan["freshness"] == expected


async def test_every_catalogue_entry_runs_with_its_direction_counters(portal: Portal, worker: Any) -> None:
    portal.core("PUT", "/_config", json={"edition": "MG"})  # an MG system runs every sync of the catalogue
    assert (await portal.client.post("/v1/portal/connection/check", headers=portal.headers)).status_code == 200
    subjects = {
        "card_copy": "BEN00000001",
        "provider_registration_change": "PRE00000001",
        "provider_address_change": "PRE00000002",
        "beneficiary_registration_change": "BEN00000002",
        "beneficiary_address_change": "BEN00000003",
    }
    for kind, subject in subjects.items():
        body = {"kind": kind, "subject_id": subject, "payload": {"note": "x"}}
        assert (await portal.client.post("/v1/portal/requests", json=body, headers=portal.headers)).status_code == 201
    for kind in ("new_beneficiary", "new_family"):
        body = {"kind": kind, "payload": {"name": "Ana Nova"}}
        assert (await portal.client.post("/v1/portal/requests", json=body, headers=portal.headers)).status_code == 201
    exports = {key: await portal.run(key, worker) for key, s in SYNCS.items() if s.direction == "export"}
    others = {key: await portal.run(key, worker) for key, s in SYNCS.items() if s.direction != "export"}
    runs = {**exports, **others}
    assert len(runs) == 52
    entities: set[str] = set()
    for key, run in runs.items():
        sync = SYNCS[key]
        assert run["status"] == "succeeded", (key, run)
        assert run["direction"] == sync.direction
        assert run["title"] == sync.title
        assert COUNTERS[sync.direction] <= set(run["counters"]), key
        if sync.direction == "import" and sync.entity not in entities:  # the first sync of each entity fills it
            assert run["counters"]["created"] > 0, key
            entities.add(sync.entity)
        elif sync.direction == "export":
            assert run["counters"]["exported"] == len(sync.request_kinds), key
        else:
            assert run["counters"]["updated"] + run["counters"]["unchanged"] == len(sync.request_kinds), key
    history = await portal.client.get("/v1/portal/runs?direction=export&limit=10", headers=portal.headers)
    assert {r["sync_key"] for r in history.json()["items"]} == set(exports)
    group = await portal.client.get("/v1/portal/runs?group=complete&status=succeeded", headers=portal.headers)
    assert len(group.json()["items"]) == 8
