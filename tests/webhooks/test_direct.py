"""The intake's direct path (gateway/webhooks/direct.py) answers exactly as Litestar's route does."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from gateway.observability import REQUEST_METRICS, observe_requests
from gateway.webhooks.direct import DirectIntake
from tests.webhooks.support import create_endpoint, envelope, signed_headers, task_completed

# Differ on every request by design; everything else must be identical.
_VOLATILE_HEADERS = {"date", "x-request-id", "content-length"}
_VOLATILE_FIELDS = {"id", "event_id", "instance"}


def _direct(app: Any) -> DirectIntake:
    direct = app.asgi_handler.__wrapped__.routes["POST", "/v1/webhooks/"]
    assert isinstance(direct, DirectIntake)
    return direct


def _shape(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in _VOLATILE_HEADERS}
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = response.text
    if isinstance(body, dict):
        body = {k: ("*" if k in _VOLATILE_FIELDS else v) for k, v in body.items()}
    return response.status_code, headers, body


async def test_direct_path_answers_as_the_route_does(app, client, tenants, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    t = await tenants.create()
    endpoint, other = await create_endpoint(client, t.headers), await create_endpoint(client, t.headers)
    direct = _direct(app)
    routed_calls = 0
    routed = direct.routed

    async def counting(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        nonlocal routed_calls
        if scope["type"] == "http":
            routed_calls += 1
        await routed(scope, receive, send)

    monkeypatch.setattr(direct, "routed", counting)
    answers: dict[str, list[Any]] = {"direct": [], "route": []}
    unknown = f"/v1/webhooks/{uuid.uuid4()}"
    for path in ("direct", "route"):
        if path == "route":  # the same app without its direct path: every delivery through Litestar
            monkeypatch.setattr(app, "asgi_handler", observe_requests(routed))
        for url, headers, body in cases(endpoint, other, path, unknown):
            answers[path].append(_shape(await client.post(url, content=body, headers=headers)))
    assert answers["direct"] == answers["route"]
    assert [status for status, _, _ in answers["direct"]] == [202, 200, 422, 422, 401, 401, 400, 422, 404]
    assert routed_calls == 0  # each of them was answered by the direct path


def cases(
    endpoint: dict[str, Any], other: dict[str, Any], tag: str, unknown: str
) -> list[tuple[str, dict[str, str], bytes]]:
    url = f"/v1/webhooks/{endpoint['id']}"
    good = envelope("task.completed", task_completed(f"T-{tag}"))
    broken = envelope("task.completed", {"task_id": "T-9"})  # stored as rejected: 422
    nul = envelope("task.completed", task_completed("T-\u0000"))
    not_json = b"{not json"
    return [
        (url, signed_headers(endpoint["secret"], good, msg_id=f"msg_{tag}_1"), good),  # 202
        (url, signed_headers(endpoint["secret"], good, msg_id=f"msg_{tag}_1"), good),  # redelivery: 200
        (url, signed_headers(endpoint["secret"], broken, msg_id=f"msg_{tag}_2"), broken),  # 422, stored
        (url, signed_headers(endpoint["secret"], broken, msg_id=f"msg_{tag}_2"), broken),  # 422 again
        (url, signed_headers(other["secret"], good), good),  # 401
        (url, {"content-type": "application/json"}, good),  # 401
        (url, signed_headers(endpoint["secret"], not_json), not_json),  # 400
        (url, signed_headers(endpoint["secret"], nul), nul),  # 422
        (unknown, signed_headers(endpoint["secret"], good), good),  # 404
    ]


@pytest.mark.parametrize(
    ("suffix", "headers"),
    [
        ("", {"content-type": "text/plain"}),  # Litestar's 415
        ("?x=1", {"content-type": "application/json"}),
        ("/", {"content-type": "application/json"}),
    ],
)
async def test_anything_else_goes_to_the_route(app, client, tenants, monkeypatch, suffix, headers) -> None:  # type: ignore[no-untyped-def]
    t = await tenants.create()
    endpoint = await create_endpoint(client, t.headers)
    direct = _direct(app)
    seen: list[str] = []
    routed = direct.routed

    async def counting(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append(scope["path"])
        await routed(scope, receive, send)

    monkeypatch.setattr(direct, "routed", counting)
    body = envelope("task.completed", task_completed())
    signed = signed_headers(endpoint["secret"], body) | headers
    r = await client.post(f"/v1/webhooks/{endpoint['id']}{suffix}", content=body, headers=signed)
    assert seen, r.status_code
    assert r.status_code != 500


async def test_direct_answers_are_counted_under_the_route(app, client, tenants) -> None:  # type: ignore[no-untyped-def]
    t = await tenants.create()
    endpoint = await create_endpoint(client, t.headers)
    body = envelope("task.completed", task_completed())
    key = ("POST", "/v1/webhooks/{endpoint_id}", 202)
    before = REQUEST_METRICS.routes.get(key, [0])[0]
    r = await client.post(
        f"/v1/webhooks/{endpoint['id']}", content=body, headers=signed_headers(endpoint["secret"], body)
    )
    assert r.status_code == 202
    assert r.headers["x-request-id"]
    assert REQUEST_METRICS.routes[key][0] == before + 1
