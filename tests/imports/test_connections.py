"""Catalogue and connections: CRUD, write-only encrypted credentials, options, test call."""

from __future__ import annotations

from sqlalchemy import select

from gateway.imports.models import InsurerConnection
from tests.imports.conftest import set_faults


async def test_catalogue_lists_every_insurer_with_its_options(client, tenants) -> None:
    t = await tenants.create()
    r = await client.get("/v1/insurers", headers=t.headers)
    assert r.status_code == 200
    items = {i["code"]: i for i in r.json()["items"]}
    assert len(items) == 28
    assert items["allianz"]["snapshot"] == "as_of_period"
    assert items["allianz"]["protocol"] == "soap"
    assert items["ageas"]["snapshot"] == "current_state"
    assert items["warta"]["max_window_days"] == 16
    [product] = items["warta"]["options"]
    assert product == {
        "key": "product", "values": ["property", "life"], "required": True, "default": None,
        "description": "Majątek (property) or Życie (life)",
    }  # fmt: skip
    assert (await client.get("/v1/insurers/medis", headers=t.headers)).json()["name"] == "Médis"
    assert (await client.get("/v1/insurers/nope", headers=t.headers)).status_code == 404


async def test_credentials_are_encrypted_at_rest_and_never_returned(
    client, tenants, runtime, connect, settings
) -> None:
    t = await tenants.create()
    conn = await connect(t, "warta", password="sandbox", base_url=None)
    assert "credentials" not in conn
    assert conn["has_credentials"] is True
    assert "sandbox" not in str(conn)
    assert conn["base_url"] == f"{settings.sandbox_url}/insurers/rest/warta"  # default: the sandbox's endpoint
    assert conn["schedule"] == {"time": "06:00", "timezone": "Europe/Warsaw", "enabled": True}
    async with runtime.db.sessionmaker() as session:
        stored = (await session.scalars(select(InsurerConnection))).one()
    assert b"sandbox" not in stored.credentials
    assert runtime.cipher.decrypt(stored.credentials) == {"username": "broker-1", "password": "sandbox"}
    r = await client.get(f"/v1/insurer-connections/{conn['id']}", headers=t.headers)
    assert "sandbox" not in r.text


async def test_options_are_validated_per_insurer_with_pointers(client, tenants) -> None:
    t = await tenants.create()
    creds = {"username": "u", "password": "p"}
    r = await client.post("/v1/insurer-connections", json={"insurer": "warta", "credentials": creds}, headers=t.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/options/product"
    body = {"insurer": "ergo-hestia", "credentials": creds, "options": {"system": "iHestia", "brand": "mtu"}}
    r = await client.post("/v1/insurer-connections", json=body, headers=t.headers)
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["pointer"] == "/options/identity"
    assert "requires the MTU identity" in error["detail"]
    r = await client.post("/v1/insurer-connections", json={"insurer": "acme", "credentials": creds}, headers=t.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/insurer"
    body = {"insurer": "allianz", "credentials": creds, "schedule": {"time": "07:30", "timezone": "Mars/Olympus"}}
    r = await client.post("/v1/insurer-connections", json=body, headers=t.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/schedule/timezone"


async def test_crud_and_tenant_isolation(client, tenants, connect) -> None:
    t, other = await tenants.create(), await tenants.create()
    conn = await connect(t, "allianz", schedule={"time": "07:30", "timezone": "Europe/Lisbon", "enabled": False})
    url = f"/v1/insurer-connections/{conn['id']}"
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.delete(url, headers=other.headers)).status_code == 404
    dup = {"insurer": "allianz", "credentials": {"username": "x", "password": "y"}}
    taken = await client.post("/v1/insurer-connections", json=dup, headers=t.headers)
    assert taken.status_code == 409
    assert taken.json()["connection_id"] == conn["id"]  # get-or-create: the one that exists
    r = await client.patch(
        url, json={"schedule": {"time": "21:15", "enabled": True}, "enabled": False}, headers=t.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["schedule"] == {"time": "21:15", "timezone": "Europe/Lisbon", "enabled": True}
    assert r.json()["enabled"] is False
    listed = (await client.get("/v1/insurer-connections", headers=t.headers)).json()
    assert [c["id"] for c in listed["items"]] == [conn["id"]]
    assert (await client.get("/v1/insurer-connections", headers=other.headers)).json()["items"] == []
    assert (await client.delete(url, headers=t.headers)).status_code == 204
    assert (await client.get(url, headers=t.headers)).status_code == 404


async def test_test_call_reaches_the_insurer(client, tenants, connect, sandbox_faults) -> None:
    t = await tenants.create()
    for insurer in ("allianz", "warta"):
        conn = await connect(t, insurer)
        r = await client.post(f"/v1/insurer-connections/{conn['id']}/test", headers=t.headers)
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True
        assert r.json()["server_time"]
    bad = await connect(t, "zurich", password="wrong")
    r = await client.post(f"/v1/insurer-connections/{bad['id']}/test", headers=t.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["pointer"] == "/credentials"
    assert r.json()["partner_error"] == "unauthorized"
    await set_faults(sandbox_faults, error_rate=1.0)
    r = await client.post(f"/v1/insurer-connections/{conn['id']}/test", headers=t.headers)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
