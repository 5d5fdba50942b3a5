"""The connection overview (seed 000, "companhias com ligação automática"): each connection's
last import, next scheduled run and whether its credentials last worked; filter by health."""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import update

from gateway.imports.health import next_run
from gateway.imports.models import InsurerConnection
from tests.imports.conftest import days_ago, launch, period


async def listed(client, t, **params) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    r = await client.get("/v1/insurer-connections", headers=t.headers, params=params)
    assert r.status_code == 200, r.text
    return {c["insurer"]: c for c in r.json()["items"]}


async def test_overview_shows_each_connections_health_and_filters_the_red_ones(
    client, tenants, worker, runtime, connect
) -> None:
    t = await tenants.create()
    good = await connect(t, "warta")
    refused = await connect(t, "proama", password="wrong")
    never = await connect(t, "tuz", schedule={"time": "06:00", "timezone": "Europe/Warsaw", "enabled": False})
    off = await connect(t, "ageas", enabled=False)
    fresh = (await listed(client, t))["warta"]["health"]
    assert fresh["status"] == "never_run" and fresh["last_import"] is None
    assert fresh["credentials"] == {"worked": None, "checked_at": None, "error_code": None}

    window = period(days_ago(3), days_ago(0))
    task = (await launch(client, t, good, period=window))["task"]
    await launch(client, t, refused, period=window)
    await worker()

    overview = await listed(client, t)
    h = overview["warta"]["health"]
    assert h["status"] in ("ok", "warning")  # a bad sandbox record may make it partial
    assert h["last_import"]["task_id"] == task["id"] and h["last_import"]["finished_at"] is not None
    assert h["last_import"]["counters"]["policies"]["created"] > 0
    assert h["credentials"]["worked"] is True and h["credentials"]["checked_at"] is not None
    assert h["next_run_at"] is not None and h["next_run_at"] > datetime.now(UTC).isoformat()
    red = overview["proama"]["health"]
    assert red["status"] == "failing" and red["last_import"]["status"] == "failed"
    assert red["credentials"] == {**red["credentials"], "worked": False, "error_code": "unauthorized"}
    assert overview["tuz"]["health"]["next_run_at"] is None  # schedule off
    assert overview["ageas"]["health"]["status"] == "disabled"

    # Every red insurer at once; the other filters; the detail carries the same health.
    assert list(await listed(client, t, health="failing")) == ["proama"]
    assert list(await listed(client, t, health="never_run")) == ["tuz"]
    assert list(await listed(client, t, health="disabled")) == ["ageas"]
    assert (await client.get("/v1/insurer-connections?health=purple", headers=t.headers)).status_code == 400
    one = await client.get(f"/v1/insurer-connections/{refused['id']}", headers=t.headers)
    assert one.json()["health"]["status"] == "failing"

    # Fixing the credentials clears the verdict; a successful test call records that they work.
    body = {"credentials": {"username": "broker-1", "password": "sandbox"}}
    r = await client.patch(f"/v1/insurer-connections/{refused['id']}", json=body, headers=t.headers)
    assert r.status_code == 200
    assert (await client.post(f"/v1/insurer-connections/{refused['id']}/test", headers=t.headers)).status_code == 200
    h = (await listed(client, t))["proama"]["health"]
    assert h["credentials"]["worked"] is True
    assert h["status"] == "failing"  # still red: its last import failed, until one succeeds
    # A refused test call is remembered even though the call itself answers 422.
    body = {"credentials": {"username": "broker-1", "password": "nope"}}
    await client.patch(f"/v1/insurer-connections/{never['id']}", json=body, headers=t.headers)
    assert (await client.post(f"/v1/insurer-connections/{never['id']}/test", headers=t.headers)).status_code == 422
    assert set(await listed(client, t, health="failing")) == {"proama", "tuz"}
    assert off["enabled"] is False


def test_next_run_is_today_before_the_schedule_time_and_tomorrow_after() -> None:
    c = InsurerConnection(
        enabled=True, schedule_enabled=True, schedule_time=time(6, 0), schedule_timezone="Europe/Lisbon"
    )
    winter_morning = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert next_run(c, winter_morning) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert next_run(c, datetime(2026, 12, 1, 6, 0, tzinfo=UTC)) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 4, 30, tzinfo=UTC)  # 05:30 in Lisbon (UTC+1)
    assert next_run(c, summer) == datetime(2026, 7, 1, 5, 0, tzinfo=UTC)
    c.schedule_enabled = False
    assert next_run(c, summer) is None


async def test_health_status_sql_matches_the_rules(client, tenants, runtime, connect) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta")
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(InsurerConnection).where(InsurerConnection.tenant_id == t.tenant_id).values(credentials_ok=False)
        )
    assert list(await listed(client, t, health="failing")) == ["warta"]
    assert conn["id"]
