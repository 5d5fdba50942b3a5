"""Every error is RFC 9457 problem+json, with errors[] pointers for invalid input."""

from __future__ import annotations

PROBLEM = "application/problem+json"


def assert_problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:ponte:problem:")
    assert body["title"]
    assert body["instance"].startswith("urn:ponte:request:")
    return body


async def test_unknown_route_is_404_problem(client, tenants) -> None:
    t = await tenants.create()
    assert_problem(await client.get("/v1/nothing-here", headers=t.headers), 404)


async def test_wrong_method_is_405_problem(client, tenants) -> None:
    t = await tenants.create()
    assert_problem(await client.delete("/v1/tasks", headers=t.headers), 405)


async def test_schema_invalid_body_is_422_with_pointers(client, operator_headers) -> None:
    body = assert_problem(
        await client.post("/v1/tenants", json={"name": "", "slug": "Bad Slug!"}, headers=operator_headers), 422
    )
    pointers = {e["pointer"] for e in body["errors"]}
    assert pointers & {"/name", "/slug"}
    assert all(e["source"] == "body" for e in body["errors"])


async def test_wrong_type_points_at_the_field(client, operator_headers) -> None:
    body = assert_problem(
        await client.post("/v1/tenants", json={"name": 5, "slug": "ok-slug"}, headers=operator_headers), 422
    )
    assert body["errors"][0]["pointer"] == "/name"


async def test_unknown_field_is_rejected(client, operator_headers) -> None:
    r = await client.post("/v1/tenants", json={"name": "a", "slug": "ok-slug", "admin": True}, headers=operator_headers)
    assert_problem(r, 422)


async def test_malformed_json_is_400_problem(client, operator_headers) -> None:
    r = await client.post(
        "/v1/tenants", content=b"{not json", headers=operator_headers | {"content-type": "application/json"}
    )
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith(PROBLEM)


async def test_non_json_body_is_415_problem(client, operator_headers) -> None:
    r = await client.post("/v1/tenants", content=b"name=a", headers=operator_headers | {"content-type": "text/plain"})
    assert_problem(r, 415)


async def test_oversized_body_is_413_problem(client, operator_headers, settings) -> None:
    big = b'{"name": "' + b"x" * (settings.max_body_bytes + 10) + b'", "slug": "big"}'
    r = await client.post("/v1/tenants", content=big, headers=operator_headers | {"content-type": "application/json"})
    assert_problem(r, 413)


async def test_bad_path_parameter_is_4xx_problem(client, tenants) -> None:
    t = await tenants.create()
    r = await client.get("/v1/tasks/not-a-uuid", headers=t.headers)
    assert r.status_code in (400, 404)
    assert r.headers["content-type"].startswith(PROBLEM)


async def test_bad_cursor_is_400_problem(client, tenants) -> None:
    t = await tenants.create()
    body = assert_problem(await client.get("/v1/tasks", params={"cursor": "garbage!"}, headers=t.headers), 400)
    assert body["errors"][0]["pointer"] == "/cursor"


async def test_limit_out_of_range_is_400_problem(client, tenants) -> None:
    t = await tenants.create()
    assert_problem(await client.get("/v1/tasks", params={"limit": 0}, headers=t.headers), 400)
    assert_problem(await client.get("/v1/tasks", params={"limit": 100000}, headers=t.headers), 400)


async def test_unexpected_exception_is_500_problem_without_trace(app, client, tenants) -> None:
    from litestar import get

    @get("/v1/boom-test", sync_to_thread=False, include_in_schema=False)
    def boom() -> None:
        raise ZeroDivisionError("secret internals")

    if "/v1/boom-test" not in {r.path for r in app.routes}:
        app.register(boom)
    t = await tenants.create()
    r = await client.get("/v1/boom-test", headers=t.headers | {"X-Request-ID": "abc"})
    body = assert_problem(r, 500)
    assert "secret internals" not in r.text
    assert "Traceback" not in r.text
    assert body["instance"] == "urn:ponte:request:abc"
    assert "urn:ponte:request:abc" in body["detail"]


async def test_request_id_is_echoed(client) -> None:
    r = await client.get("/health/live", headers={"X-Request-ID": "req-123"})
    assert r.headers["x-request-id"] == "req-123"


def test_json_pointer_from_every_path_spelling() -> None:
    from gateway.errors import json_pointer

    assert json_pointer("$.items[0].amount") == "/items/0/amount"
    assert json_pointer("items[3].installments") == "/items/3/installments"
    assert json_pointer("folder_path[0]") == "/folder_path/0"
    assert json_pointer("period.from") == "/period/from"
    assert json_pointer("data") == ""


async def test_a_missing_field_points_at_that_field(client, tenants) -> None:
    t = await tenants.create()
    body = assert_problem(
        await client.post("/v1/insurer-connections", json={"insurer": "allianz"}, headers=t.headers), 422
    )
    assert [e["pointer"] for e in body["errors"]] == ["/credentials"]
    nested = {"insurer": "allianz", "credentials": {"username": "u"}}
    body = assert_problem(await client.post("/v1/insurer-connections", json=nested, headers=t.headers), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/credentials/password"]
