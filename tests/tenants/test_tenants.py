from __future__ import annotations

import uuid

import pytest

from tests.factories import TenantFactory


async def test_operator_creates_tenant_and_key_shown_once(client, operator_headers) -> None:
    r = await client.post("/v1/tenants", json={"name": "Corretora Lda", "slug": "corretora"}, headers=operator_headers)
    assert r.status_code == 201
    tenant_id = r.json()["id"]
    r = await client.post(f"/v1/tenants/{tenant_id}/keys", json={"name": "crm"}, headers=operator_headers)
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("ponte_") and len(key) > 40
    listing = await client.get(f"/v1/tenants/{tenant_id}/keys", headers=operator_headers)
    assert listing.status_code == 200
    assert key not in listing.text  # never shown again
    assert listing.json()["items"][0]["prefix"] == key[:12]
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.json()["slug"] == "corretora"


async def test_key_is_stored_hashed(client, runtime, tenants: TenantFactory) -> None:
    from sqlalchemy import text

    t = await tenants.create()
    async with runtime.db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT key_hash FROM api_keys"))).scalars().all()
    assert t.key not in stored
    assert all(len(h) == 64 for h in stored)


async def test_duplicate_slug_is_conflict_problem(client, operator_headers) -> None:
    body = {"name": "A", "slug": "same"}
    assert (await client.post("/v1/tenants", json=body, headers=operator_headers)).status_code == 201
    r = await client.post("/v1/tenants", json=body, headers=operator_headers)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["pointer"] == "/slug"


async def test_missing_and_invalid_key_are_401_problems(client) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "ponte_unknown"}):
        r = await client.get("/v1/tasks", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401


async def test_x_api_key_header_works(client, tenants: TenantFactory) -> None:
    t = await tenants.create()
    assert (await client.get("/v1/tasks", headers={"X-API-Key": t.key})).status_code == 200


async def test_tenant_key_cannot_manage_tenants(client, tenants: TenantFactory) -> None:
    t = await tenants.create()
    r = await client.post("/v1/tenants", json={"name": "x", "slug": "xx"}, headers=t.headers)
    assert r.status_code == 403
    assert r.json()["type"] == "urn:ponte:problem:forbidden"


async def test_operator_key_cannot_read_tenant_resources(client, operator_headers) -> None:
    assert (await client.get("/v1/tasks", headers=operator_headers)).status_code == 403
    # The by-id read names the tenant itself (no injected dependency): the same refusal.
    r = await client.get(f"/v1/tasks/{uuid.uuid4()}", headers=operator_headers)
    assert r.status_code == 403 and r.json()["type"] == "urn:ponte:problem:forbidden", r.text


async def test_revoked_key_is_refused(client, operator_headers, tenants: TenantFactory) -> None:
    t = await tenants.create()
    keys = (await client.get(f"/v1/tenants/{t.tenant_id}/keys", headers=operator_headers)).json()["items"]
    r = await client.delete(f"/v1/tenants/{t.tenant_id}/keys/{keys[0]['id']}", headers=operator_headers)
    assert r.status_code == 204
    assert (await client.get("/v1/tasks", headers=t.headers)).status_code == 401


async def test_revoking_another_tenants_key_is_404(client, operator_headers, tenants: TenantFactory) -> None:
    a, b = await tenants.create(), await tenants.create()
    keys = (await client.get(f"/v1/tenants/{a.tenant_id}/keys", headers=operator_headers)).json()["items"]
    r = await client.delete(f"/v1/tenants/{b.tenant_id}/keys/{keys[0]['id']}", headers=operator_headers)
    assert r.status_code == 404
    assert (await client.get("/v1/tasks", headers=a.headers)).status_code == 200


async def test_unknown_tenant_is_404(client, operator_headers) -> None:
    r = await client.post(f"/v1/tenants/{uuid.uuid4()}/keys", json={}, headers=operator_headers)
    assert r.status_code == 404


async def test_tenant_list_is_cursor_paginated(client, operator_headers) -> None:
    for i in range(5):
        await client.post("/v1/tenants", json={"name": f"T{i}", "slug": f"t-{i}"}, headers=operator_headers)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/tenants", params=params, headers=operator_headers)).json()
        seen += [t["slug"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"t-{i}" for i in range(5)]
    assert len(seen) == 5


async def test_locale_and_time_zone_set_at_creation_changed_and_shown_to_the_tenant(client, operator_headers) -> None:
    body = {"name": "Broker PL", "slug": "broker-pl", "locale": "pl_PL", "timezone": "Europe/Warsaw"}
    r = await client.post("/v1/tenants", json=body, headers=operator_headers)
    assert r.status_code == 201, r.text
    assert (r.json()["locale"], r.json()["timezone"]) == ("pl_PL", "Europe/Warsaw")
    r = await client.post("/v1/tenants/broker-pl/keys", json={}, headers=operator_headers)
    key = r.json()["key"]
    r = await client.patch("/v1/tenants/broker-pl", json={"timezone": "Europe/Lisbon"}, headers=operator_headers)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["locale"], r.json()["timezone"]) == ("Broker PL", "pl_PL", "Europe/Lisbon")
    me = (await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).json()
    assert (me["locale"], me["timezone"]) == ("pl_PL", "Europe/Lisbon")
    assert (await client.get("/v1/tenants/broker-pl", headers=operator_headers)).json()["timezone"] == "Europe/Lisbon"


async def test_tenants_default_to_pt_br_in_sao_paulo(client, operator_headers) -> None:
    r = await client.post("/v1/tenants", json={"name": "Corretora", "slug": "corretora-sp"}, headers=operator_headers)
    assert (r.json()["locale"], r.json()["timezone"]) == ("pt_BR", "America/Sao_Paulo")


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "../../etc/passwd", "america/sao_paulo", "GMT+3"])
async def test_a_time_zone_outside_the_tz_database_is_a_422_problem(client, operator_headers, timezone) -> None:
    r = await client.post(
        "/v1/tenants", json={"name": "X", "slug": "tz-x", "timezone": timezone}, headers=operator_headers
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["pointer"] == "/timezone"
    await client.post("/v1/tenants", json={"name": "Y", "slug": "tz-y"}, headers=operator_headers)
    r = await client.patch("/v1/tenants/tz-y", json={"timezone": timezone}, headers=operator_headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["pointer"] == "/timezone"


async def test_a_locale_outside_the_list_is_a_422_problem(client, operator_headers) -> None:
    r = await client.post(
        "/v1/tenants", json={"name": "X", "slug": "loc-x", "locale": "xx_YY"}, headers=operator_headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/locale"
    r = await client.patch("/v1/tenants/loc-x", json={"locale": "pl_PL"}, headers=operator_headers)
    assert r.status_code == 404
