"""No 500 on any input: characters PostgreSQL cannot store, odd methods, partner failures."""

from __future__ import annotations

import pytest

from tests.test_errors import assert_problem


async def test_nul_in_a_query_parameter_is_400_problem(client, tenants) -> None:
    t = await tenants.create()
    body = assert_problem(await client.get("/v1/tasks", params={"subject_id": "a\x00b"}, headers=t.headers), 400)
    assert body["errors"][0] == {"pointer": "/subject_id", "detail": body["errors"][0]["detail"], "source": "query"}


async def test_undecodable_query_bytes_are_not_a_server_error(client, tenants) -> None:
    t = await tenants.create()
    r = await client.get("/v1/tasks?subject_id=%ED%A0%80%00", headers=t.headers)
    assert_problem(r, 400)


async def test_nul_in_a_path_parameter_is_400_problem(client, tenants) -> None:
    t = await tenants.create()
    assert_problem(await client.get("/v1/reconciliation/sales/a%00b", headers=t.headers), 400)


async def test_escaped_nul_in_a_json_body_is_422_problem(client, operator_headers) -> None:
    r = await client.post(
        "/v1/tenants",
        content=b'{"name": "a\\u0000b", "slug": "nul"}',
        headers=operator_headers | {"content-type": "application/json"},
    )
    assert_problem(r, 422)


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(client, operator_headers) -> None:
    r = await client.post(
        "/v1/tenants",
        content=b'{"name": "a\\\\u0000b", "slug": "not-nul"}',
        headers=operator_headers | {"content-type": "application/json"},
    )
    assert r.status_code == 201, r.text


async def test_idempotency_key_with_control_characters_is_422_problem(client, operator_headers) -> None:
    r = await client.post(
        "/v1/tenants", json={"name": "a", "slug": "idem"}, headers=operator_headers | {"Idempotency-Key": "a\tb"}
    )
    assert_problem(r, 422)


@pytest.mark.parametrize("path", ["/v1/tenants", "/v1/tasks", "/v1/me", "/health/live"])
async def test_options_on_any_route_answers_without_error(client, path) -> None:
    r = await client.options(path)
    assert r.status_code in (204, 405), r.text
    if r.status_code == 204:
        assert "GET" in r.headers["allow"]


@pytest.mark.parametrize("path", ["/v1/tenants", "/v1/tasks", "/v1/me"])
async def test_head_on_a_secured_route_is_a_problem_not_a_crash(client, path) -> None:
    r = await client.head(path)
    assert r.status_code in (401, 405), r.text


async def test_huge_integer_in_a_body_is_a_4xx_problem(client, tenants) -> None:
    t = await tenants.create()
    r = await client.post(
        "/v1/reconciliation/sales",
        json={"items": [{"sale_id": "s1", "gross_amount_cents": 10**30}]},
        headers=t.headers,
    )
    assert r.status_code == 207, r.text
    assert r.json()["rejected"][0]["errors"][0]["pointer"] == "/items/0/gross_amount_cents"


async def test_a_body_is_taken_as_its_schema_says_without_lenient_coercion(client, tenants) -> None:
    t = await tenants.create()
    r = await client.put("/v1/document-portal/integration", json={"enabled": 0}, headers=t.headers)
    body = assert_problem(r, 422)
    assert body["errors"][0]["pointer"] == "/enabled"
    r = await client.post("/v1/tenants/00000000-0000-0000-0000-000000000000/keys", json={"name": 5}, headers=t.headers)
    assert r.status_code in (403, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"token": "t", "base_url": "http://exa mple.test"},  # httpx cannot parse it
        {"token": "t", "base_url": "http://example.test:99999"},  # no such port
        {"token": "t", "base_url": "https://[c2]:8443"},  # not an IPv6 address
        {"token": "t", "base_url": "https://[1::2::3]"},  # two "::"
        {"token": "tökén"},  # a header value must be ASCII
    ],
)
async def test_partner_addresses_and_tokens_are_ones_a_client_can_send(client, tenants, body) -> None:
    t = await tenants.create()
    assert_problem(await client.put("/v1/portal/connection", json=body, headers=t.headers), 422)


@pytest.mark.parametrize("value", ["0.5", "253402300800", "1e20"])
async def test_a_date_time_parameter_takes_rfc3339_not_a_number(client, tenants, value) -> None:
    t = await tenants.create()
    body = assert_problem(await client.get("/v1/tasks", params={"created_to": value}, headers=t.headers), 400)
    assert body["errors"][0]["pointer"] == "/created_to"


async def test_an_integral_float_is_an_integer_as_json_schema_says(client, tenants) -> None:
    t = await tenants.create()
    r = await client.post("/v1/webhook-endpoints", json={"source": "boavista"}, headers=t.headers)
    endpoint = r.json()["id"]
    r = await client.post(f"/v1/webhook-endpoints/{endpoint}/rotate", json={"grace_seconds": 600.0}, headers=t.headers)
    assert r.status_code == 201, r.text


async def test_a_bracketed_ipv6_address_is_a_valid_partner_address(client, tenants) -> None:
    t = await tenants.create()
    body = {"token": "t", "base_url": "http://[::1]:9/core"}
    r = await client.put("/v1/portal/connection", json=body, headers=t.headers)
    # The pattern takes it; the egress guard then decides (the tests allow 127.0.0.1 only).
    assert assert_problem(r, 422)["detail"] == "destination [::1]:9 refused: ::1 is loopback"


async def test_a_wrong_type_then_malformed_json_is_400_not_a_crash(client, operator_headers) -> None:
    # A typed decode stops at the wrong type (a number, not an object) before the bad bytes.
    headers = {**operator_headers, "Content-Type": "application/json"}
    r = await client.post("/v1/tenants", content=b"0\xff\xfe", headers=headers)
    assert_problem(r, 400)
