"""The direct read of one task (gateway/tasks/direct.py) answers exactly as Litestar's route does."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.observability import REQUEST_METRICS, observe_requests
from gateway.ratelimit import KEY_PREFIX
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.tasks.direct import DirectTaskRead
from tests.conftest import OPERATOR_KEY
from tests.factories import TenantFactory
from tests.tasks.test_tasks import new_task

READS = 6  # the reads budget of the app below: the seventh counted read is a 429

# Differ on every request by design; everything else, the length included, must be identical.
_VOLATILE_HEADERS = {"date", "x-request-id"}
_REQUEST_ID = re.compile(rb"urn:ponte:request:[0-9a-f]{32}")


def _direct(app: Any) -> DirectTaskRead:
    direct = app.asgi_handler.__wrapped__.routes["GET", "/v1/tasks/"]
    assert isinstance(direct, DirectTaskRead)
    return direct


def _shape(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in _VOLATILE_HEADERS}
    return response.status_code, headers, _REQUEST_ID.sub(b"urn:ponte:request:*", response.content)


@pytest.fixture
async def tight(settings: Settings, runtime: Runtime) -> AsyncIterator[tuple[Litestar, AsyncTestClient[Litestar]]]:
    limited = msgspec.structs.replace(settings, rate_limit_window_seconds=3600, rate_limit_reads=READS)
    app = create_app(limited)
    async with AsyncTestClient(app=app) as client:
        yield app, client


def direct_cases(task: str, others: str, key: str, missing: str) -> list[tuple[str, str, dict[str, str]]]:
    """Reads the direct path answers, in an order that spends the reads budget last."""
    bearer = {"Authorization": f"Bearer {key}"}
    return [
        ("GET", f"/v1/tasks/{task}", bearer),  # 200
        ("GET", f"/v1/tasks/{task.upper()}", bearer),  # 200, the same task
        ("GET", f"/v1/tasks/{missing}", bearer),  # 404
        ("GET", f"/v1/tasks/{others}", bearer),  # 404: another tenant's
        ("GET", f"/v1/tasks/{task}", {"X-API-Key": key}),  # 200
        ("GET", f"/v1/tasks/{task}", bearer | {"If-None-Match": "*", "If-Modified-Since": "Mon, 01 Jan 2024"}),
        ("GET", f"/v1/tasks/{task}", {}),  # 401, not counted
        ("GET", f"/v1/tasks/{task}", {"Authorization": "Bearer not-a-key"}),  # 401
        ("GET", f"/v1/tasks/{task}", {"Authorization": "Basic Zm9vOmJhcg=="}),  # 401
        ("GET", f"/v1/tasks/{task}", {"Authorization": f"Bearer {OPERATOR_KEY}"}),  # 403, not limited
        ("GET", f"/v1/tasks/{task}", bearer),  # 429: over the budget
    ]


def routed_cases(task: str, key: str) -> list[tuple[str, str, dict[str, str]]]:
    """Requests the direct path leaves to Litestar."""
    bearer = {"Authorization": f"Bearer {key}"}
    return [
        ("HEAD", f"/v1/tasks/{task}", bearer),
        ("OPTIONS", f"/v1/tasks/{task}", {}),
        ("GET", f"/v1/tasks/{task.replace('-', '')}", bearer),
        ("GET", "/v1/tasks/not-a-uuid", bearer),
        ("GET", f"/v1/tasks/{task}?x=1", bearer),
        ("GET", f"/v1/tasks/{task}/", bearer),
        ("GET", f"/v1/tasks/{task}", bearer | {"Host": "bad host"}),
        ("POST", f"/v1/tasks/{task}", bearer),
    ]


async def test_direct_read_answers_as_the_route_does(tight, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, client = tight
    tenants = TenantFactory(client, {"Authorization": f"Bearer {OPERATOR_KEY}"})
    t, other = await tenants.create(), await tenants.create()
    task, others = str(await new_task(runtime, t.tenant_id)), str(await new_task(runtime, other.tenant_id))
    missing = str(uuid.uuid4())
    direct = _direct(app)
    litestar = direct.routed
    routed: list[str] = []

    async def counting(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            routed.append(f"{scope['method']} {scope['path']}")
        await litestar(scope, receive, send)

    monkeypatch.setattr(direct, "routed", counting)
    answers: dict[str, list[Any]] = {"direct": [], "route": []}
    passed_on: dict[str, list[Any]] = {"direct": [], "route": []}
    for path in ("direct", "route"):
        if path == "route":  # the same app without its direct paths: every read through Litestar
            monkeypatch.setattr(app, "asgi_handler", observe_requests(litestar))
        await _full_budgets(runtime)
        for method, url, headers in direct_cases(task, others, t.key, missing):
            answers[path].append(_shape(await client.request(method, url, headers=headers)))
        if path == "direct":
            assert routed == []  # each of them was answered by the direct path
        await _full_budgets(runtime)
        for method, url, headers in routed_cases(task, t.key):
            passed_on[path].append(_shape(await client.request(method, url, headers=headers)))
    assert answers["direct"] == answers["route"]
    statuses = [status for status, _, _ in answers["direct"]]
    assert statuses == [200, 200, 404, 404, 200, 200, 401, 401, 401, 403, 429]
    assert msgspec.json.decode(answers["direct"][0][2])["id"] == task
    assert passed_on["direct"] == passed_on["route"]
    assert [status for status, _, _ in passed_on["direct"]] == [405, 204, 200, 404, 200, 200, 400, 405]
    # The GETs among them reached the direct route and were passed on; other methods never
    # reach it (``in_front`` sends them straight to Litestar).
    assert len(routed) == sum(method == "GET" for method, _, _ in routed_cases(task, t.key))


async def _full_budgets(runtime: Runtime) -> None:
    for key in await runtime.queue.redis.keys(f"{KEY_PREFIX}:*"):
        await runtime.queue.redis.delete(key)


async def test_direct_reads_are_counted_under_the_route(client, tenants, runtime) -> None:  # type: ignore[no-untyped-def]
    t = await tenants.create()
    task = await new_task(runtime, t.tenant_id)
    key = ("GET", "/v1/tasks/{task_id}", 200)
    before = REQUEST_METRICS.routes.get(key, [0])[0]
    r = await client.get(f"/v1/tasks/{task}", headers=t.headers | {"X-Request-ID": "read-1"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "read-1"
    assert REQUEST_METRICS.routes[key][0] == before + 1
