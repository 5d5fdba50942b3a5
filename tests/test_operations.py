from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.openapi import render_spec

ROOT = Path(__file__).resolve().parent.parent


async def test_live_and_ready(client) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    r = await client.get("/health/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "queue": "ok"}


async def test_ready_is_503_when_the_queue_is_down(settings) -> None:
    from litestar.testing import AsyncTestClient

    from gateway.app import create_app
    from gateway.settings import load_settings

    broken = load_settings({}, database_url=settings.database_url, redis_url="redis://127.0.0.1:1", operator_key="x")
    app = create_app(broken)
    try:
        async with AsyncTestClient(app=app) as c:
            r = await c.get("/health/ready")
    except Exception:
        return
    assert r.status_code == 503
    assert r.json()["queue"].startswith("down")


async def test_metrics_expose_requests_tasks_and_queue_depth(client, runtime, tenants) -> None:
    from tests.tasks.test_tasks import new_task

    t = await tenants.create()
    await new_task(runtime, t.tenant_id)
    await client.get("/v1/tasks", headers=t.headers)
    text = (await client.get("/metrics")).text
    assert "ponte_requests_total" in text
    assert 'ponte_tasks{kind="system.echo",status="queued"} 1.0' in text
    assert "ponte_queue_depth 1.0" in text


async def test_docs_page_is_served(client) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert (await client.get("/docs/openapi.json")).json()["info"]["title"] == "Ponte"


def test_committed_openapi_matches_the_code() -> None:
    committed = (ROOT / "openapi" / "openapi.json").read_text()
    assert committed == render_spec(), "openapi/openapi.json is stale: run `uv run ponte openapi`"
    spec = json.loads(committed)
    assert spec["openapi"].startswith("3.1")
    assert all(p.startswith(("/v1/", "/health", "/ping")) for p in spec["paths"])


def test_every_operation_has_an_operation_id() -> None:
    spec = json.loads(render_spec())
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op.get("operationId"), f"{method.upper()} {path} has no operationId"


def test_probes_skip_the_api_middleware(app) -> None:
    """Health, metrics and /ping have nothing to authenticate, rate-limit or replay: their
    routes carry none of the API's middleware and no body checks, so a load balancer's probe
    costs only the framework. Every /v1 route keeps all three layers."""
    from litestar.routes import HTTPRoute

    from gateway.idempotency.middleware import IdempotencyMiddleware
    from gateway.tenants.auth import ApiKeyAuthentication

    def layers(handler) -> set[object]:
        return {getattr(m, "middleware", m) for m in handler.resolve_middleware()}

    handlers = {
        (route.path, method): handler
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _) in route.route_handler_map.items()
    }
    for path in ("/ping", "/health/live", "/health/ready", "/metrics"):
        probe = handlers[path, "GET"]
        assert layers(probe) == set(), path
        assert probe.resolve_before_request() is None, path
    # The operations the spec documents (other tests register throwaway routes on this app).
    api = [
        h
        for (path, method), h in handlers.items()
        if path.startswith("/v1/") and method != "OPTIONS" and h.resolve_include_in_schema()
    ]
    assert len(api) > 80
    for handler in api:
        assert {ApiKeyAuthentication, IdempotencyMiddleware} <= layers(handler), handler
        assert handler.resolve_before_request() is not None, handler


def test_the_allocator_keeps_freed_memory_where_it_can(monkeypatch) -> None:
    import gateway.server

    calls: list[tuple[int, int]] = []

    class Glibc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(gateway.server.ctypes, "CDLL", lambda _: Glibc())
    gateway.server.keep_freed_memory()
    assert calls == [(-3, 16 * 1024 * 1024), (-1, 64 * 1024 * 1024)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD

    monkeypatch.setattr(gateway.server.ctypes, "CDLL", lambda _: object())  # a libc without mallopt
    gateway.server.keep_freed_memory()
    assert len(calls) == 2


def test_a_settled_heap_is_frozen_and_collects_young_objects_less_often(monkeypatch) -> None:
    import gc

    import gateway.server

    kept: list[bool] = []
    monkeypatch.setattr(gateway.server, "keep_freed_memory", lambda: kept.append(True))
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        gc.set_threshold(700, 10, 10)
        gateway.server.settle_heap()
        assert gc.get_threshold() == (10_000, 10, 10)
        assert gc.get_freeze_count() > frozen
        assert kept == [True]
    finally:
        gc.set_threshold(*before)


async def test_the_gateway_and_the_workers_settle_their_heaps_after_start_up(client) -> None:
    import gc
    import inspect

    import workers.main

    assert gc.get_threshold()[0] == 10_000  # the app's start-up (the client fixture's) settled it
    assert "settle_heap()" in inspect.getsource(workers.main.startup)


async def test_only_a_claimed_method_and_prefix_reach_a_direct_route() -> None:
    """``in_front`` hands a request to the direct route of its method only under that route's
    prefix; every other request (a probe, another method, a websocket) goes straight to Litestar."""
    from gateway.direct import in_front

    seen: list[tuple[str, str]] = []

    def recorder(name: str):  # type: ignore[no-untyped-def]
        async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
            seen.append((name, scope.get("method", scope["type"]) + " " + scope.get("path", "")))

        return app

    routes = {("POST", "/v1/webhooks/"): recorder("intake"), ("GET", "/v1/tasks/"): recorder("task")}
    direct = in_front(recorder("litestar"), routes)  # type: ignore[arg-type]
    for scope in (
        {"type": "http", "method": "GET", "path": "/ping"},
        {"type": "http", "method": "GET", "path": "/v1/tasks/x"},
        {"type": "http", "method": "HEAD", "path": "/v1/tasks/x"},
        {"type": "http", "method": "POST", "path": "/v1/webhooks/x"},
        {"type": "http", "method": "POST", "path": "/v1/tasks/x"},
        {"type": "websocket", "path": "/v1/tasks/x"},
        {"type": "lifespan"},
    ):
        await direct(scope, None, None)  # type: ignore[arg-type]
    assert seen == [
        ("litestar", "GET /ping"),
        ("task", "GET /v1/tasks/x"),
        ("litestar", "HEAD /v1/tasks/x"),
        ("intake", "POST /v1/webhooks/x"),
        ("litestar", "POST /v1/tasks/x"),
        ("litestar", "websocket /v1/tasks/x"),
        ("litestar", "lifespan "),
    ]
    with pytest.raises(ValueError, match="one direct route per method"):
        in_front(recorder("litestar"), {("GET", "/a/"): recorder("a"), ("GET", "/b/"): recorder("b")})  # type: ignore[arg-type]
