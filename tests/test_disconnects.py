"""Clients that go away mid-request leave nothing behind: every pooled connection comes back,
nothing is logged at error level, and the server keeps answering.

A real gateway (uvicorn, served as ``ponte api`` serves it) on loopback, and raw sockets that
send a request and reset the connection at once, several hundred of them together.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import struct
import warnings
from collections import Counter
from typing import Any

import httpx
import pytest


def _request(method: str, path: str, key: str, body: bytes = b"", send_body: bytes | None = None) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + (body if send_body is None else send_body)


def _send_and_vanish(port: int, payloads: list[bytes]) -> None:
    """Open one connection per payload, send them all, then reset every connection at once
    (linger 0), as clients that crashed or timed out would."""
    sockets = []
    for payload in payloads:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(payload)
        sockets.append(sock)
    for sock in sockets:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


async def test_hundreds_of_vanishing_clients_leave_the_pool_idle_and_the_logs_clean(
    live_gateway: tuple[str, Any], tenants: Any, caplog: pytest.LogCaptureFixture, request_log: list[dict[str, Any]]
) -> None:
    url, app = live_gateway
    port = int(url.rsplit(":", 1)[1])
    tenant = await tenants.create()
    async with httpx.AsyncClient(base_url=url, headers=tenant.headers) as client:
        task_list = await client.get("/v1/tasks")
        assert task_list.status_code == 200
    pool = app.state.db.engine.pool
    idle = pool.checkedout()

    body = b'{"source": "boavista", "description": "vanishing"}'
    kinds = [
        _request("GET", "/v1/tasks", tenant.key),  # a read on the request's session
        _request("GET", "/v1/tasks?limit=0", tenant.key),  # a dependency fails beside the session
        _request("POST", "/v1/webhook-endpoints", tenant.key, body),  # a write, committed
        _request("POST", "/v1/webhook-endpoints", tenant.key, body, body[:10]),  # the body never arrives
        _request("GET", f"/v1/tasks/{tenant.tenant_id}", tenant.key),  # a 404 from the service
    ]
    requests = 300
    caplog.set_level(logging.WARNING)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await asyncio.to_thread(_send_and_vanish, port, [kinds[i % len(kinds)] for i in range(requests)])
        # Let the server finish what the clients left behind (the request count settles, the
        # pool is idle), then let the collector run: an abandoned session shows up there.
        answered = -1
        for _ in range(300):
            await asyncio.sleep(0.1)
            now = sum(1 for e in request_log if e["event"] == "request")
            if now == answered and pool.checkedout() == idle:
                break
            answered = now
        gc.collect()
        await asyncio.sleep(0.1)

        assert pool.checkedout() == idle
        async with httpx.AsyncClient(base_url=url, headers=tenant.headers) as client:
            assert (await client.get("/v1/tasks")).status_code == 200

    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "non-checked-in" in m or "already running" in m], messages[:5]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records[:5]
    assert not [e for e in request_log if e.get("log_level") in ("error", "critical")], request_log[:5]
    # Most requests reached the app before their reset (the kernel drops the rest unread).
    statuses = Counter(e["status"] for e in request_log if e["event"] == "request")
    assert sum(statuses.values()) > requests // 2, statuses
    assert statuses[499] > 0, statuses  # bodies that never arrived: logged, not a server error
    assert not [s for s in statuses if s >= 500], statuses
