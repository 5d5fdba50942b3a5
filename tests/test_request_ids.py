"""Every response carries X-Request-ID, problems included, and the request's log line records
the status that was actually sent, under the same id."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from gateway.app import create_app

PROBLEM = "application/problem+json"


def request_line(entries: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    lines = [e for e in entries if e["event"] == "request" and e.get("request_id") == request_id]
    assert len(lines) == 1, entries
    return lines[0]


def assert_traced(r: Any, entries: list[dict[str, Any]], status: int) -> str:
    assert r.status_code == status, r.text
    request_id = r.headers["x-request-id"]
    assert request_line(entries, request_id)["status"] == status
    if r.headers.get("content-type", "").startswith(PROBLEM):
        assert r.json()["instance"] == f"urn:ponte:request:{request_id}"
    return str(request_id)


async def test_success_carries_an_id_and_is_logged(client, tenants, request_log) -> None:
    t = await tenants.create()
    assert_traced(await client.get("/v1/tasks", headers=t.headers), request_log, 200)


async def test_missing_key_401(client, request_log) -> None:
    assert_traced(await client.get("/v1/tasks"), request_log, 401)


async def test_unknown_key_401(client, request_log) -> None:
    assert_traced(await client.get("/v1/tasks", headers={"X-API-Key": "ponte_nope"}), request_log, 401)


async def test_tenant_key_on_operator_route_403(client, tenants, request_log) -> None:
    t = await tenants.create()
    assert_traced(await client.get("/v1/tenants", headers=t.headers), request_log, 403)


async def test_operator_key_on_tenant_route_403(client, operator_headers, request_log) -> None:
    assert_traced(await client.get("/v1/tasks", headers=operator_headers), request_log, 403)


async def test_idempotency_key_too_long_422(client, tenants, request_log) -> None:
    t = await tenants.create()
    headers = t.headers | {"Idempotency-Key": "k" * 256}
    r = await client.post("/v1/webhook-endpoints", json={"source": "boavista"}, headers=headers)
    assert_traced(r, request_log, 422)


async def test_idempotency_key_reused_with_another_body_422(client, tenants, request_log) -> None:
    t = await tenants.create()
    headers = t.headers | {"Idempotency-Key": "same-key"}
    first = await client.post("/v1/webhook-endpoints", json={"source": "boavista"}, headers=headers)
    assert_traced(first, request_log, 201)
    other = await client.post("/v1/webhook-endpoints", json={"source": "boavista", "description": "x"}, headers=headers)
    assert_traced(other, request_log, 422)


async def test_body_over_the_limit_413(client, tenants, settings, request_log) -> None:
    t = await tenants.create()
    body = b'{"source": "' + b"x" * settings.max_body_bytes + b'"}'
    r = await client.post(
        "/v1/webhook-endpoints", content=body, headers=t.headers | {"content-type": "application/json"}
    )
    assert_traced(r, request_log, 413)


async def test_wrong_media_type_415(client, tenants, request_log) -> None:
    t = await tenants.create()
    r = await client.post("/v1/webhook-endpoints", content=b"a=b", headers=t.headers | {"content-type": "text/plain"})
    assert_traced(r, request_log, 415)


async def test_unknown_route_404_and_wrong_method_405(client, tenants, request_log) -> None:
    t = await tenants.create()
    assert_traced(await client.get("/v1/nothing-here", headers=t.headers), request_log, 404)
    assert_traced(await client.get("/nothing-at-all"), request_log, 404)
    assert_traced(await client.delete("/v1/tasks", headers=t.headers), request_log, 405)


async def test_incoming_id_is_kept_and_a_bad_one_replaced(client, request_log) -> None:
    r = await client.get("/health/live", headers={"X-Request-ID": "trace-abc-123"})
    assert assert_traced(r, request_log, 200) == "trace-abc-123"
    r = await client.get("/health/live", headers={"X-Request-ID": "x" * 65})
    assert assert_traced(r, request_log, 200) != "x" * 65
    r = await client.get("/v1/tasks", headers={"X-Request-ID": "bad\x01id"})
    assert assert_traced(r, request_log, 401) != "bad\x01id"


@get("/boom", include_in_schema=False)
async def boom() -> None:
    raise RuntimeError("a bug")


@pytest.fixture(scope="module")
async def app_with_a_bug(settings) -> Any:
    app = create_app(settings)
    app.register(boom)
    async with AsyncTestClient(app=app) as c:
        yield c


async def test_unexpected_error_500_is_traced(app_with_a_bug, operator_headers, request_log) -> None:
    r = await app_with_a_bug.get("/boom", headers=operator_headers)
    request_id = assert_traced(r, request_log, 500)
    errors = [e for e in request_log if e["event"] == "unhandled_exception"]
    assert errors and errors[0]["request_id"] == request_id


async def test_request_samples_are_added_up_in_batches_and_whenever_read() -> None:
    """A request appends its metrics sample; the samples are folded into the per-route numbers
    every ``FOLD_EVERY`` requests (so they never pile up) and whenever the numbers are read."""
    from gateway.observability import REQUEST_METRICS, observe_requests

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["path_template"] = "/sample/{n}"
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    observed = observe_requests(app)
    key = ("GET", "/sample/{n}", 204)
    before = REQUEST_METRICS.routes.get(key, [0])[0]
    for _ in range(REQUEST_METRICS.FOLD_EVERY + 5):
        await observed({"type": "http", "method": "GET", "path": "/sample/1", "headers": []}, receive, send)
    assert len(REQUEST_METRICS.pending) < REQUEST_METRICS.FOLD_EVERY  # folded as the thousandth finished
    count, seconds, buckets = REQUEST_METRICS.routes[key]
    assert count == before + REQUEST_METRICS.FOLD_EVERY + 5 and sum(buckets) == count and seconds > 0
