"""The egress transport's connection pool (gateway/http_pool.py), against a loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpcore
import httpx
import pytest

from gateway.egress import EgressPolicy, GuardedClient, Origin, parse_allowlist
from gateway.http_pool import ConnectionPool


class KeepAliveServer:
    """HTTP/1.1 on 127.0.0.1: answers every request with 200 after ``delay``; counts connections.

    With ``close_idle`` it drops each connection right after answering, without saying so in
    a ``Connection: close`` header: the client finds out only from the socket."""

    def __init__(self, *, delay: float = 0.0, close_idle: bool = False) -> None:
        self.delay = delay
        self.close_idle = close_idle
        self.connections = 0
        self.requests = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                await asyncio.sleep(self.delay)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
                if self.close_idle:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            for writer in self._writers:
                writer.close()


def guarded(url: str, **limits: int) -> httpx.AsyncClient:
    policy = EgressPolicy(allow=parse_allowlist([url.removeprefix("http://")]), allow_http=True)
    return policy.client(limits=httpx.Limits(**limits))


def pool_of(http: httpx.AsyncClient) -> httpcore.AsyncConnectionPool:
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    return pool


def count_passes(monkeypatch: pytest.MonkeyPatch, pool: httpcore.AsyncConnectionPool) -> list[int]:
    """How many assignment passes the pool runs (whatever pool class the transport uses)."""
    passes = [0]
    assign = type(pool)._assign_requests_to_connections

    def counted(self: httpcore.AsyncConnectionPool) -> Any:
        passes[0] += 1
        return assign(self)

    monkeypatch.setattr(type(pool), "_assign_requests_to_connections", counted)
    return passes


async def test_queued_requests_share_the_connections_without_churn(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 requests, 2 connections: a freed connection goes to one waiting request, not to all of
    # them (httpcore's own pass woke every waiter, and each loser ran another pass).
    server = KeepAliveServer(delay=0.01)
    async with server.running() as url, guarded(url, max_connections=2) as http:
        assert isinstance(pool_of(http), ConnectionPool)
        passes = count_passes(monkeypatch, pool_of(http))
        answers = await asyncio.gather(*(http.get(f"{url}/{n}") for n in range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert server.connections == 2  # kept alive and reused
    assert passes[0] <= 2 * 20  # one when a request arrives, one when its response closes


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    server = KeepAliveServer(close_idle=True)
    async with server.running() as url, guarded(url, max_connections=1) as http:
        for n in range(3):
            assert (await http.get(f"{url}/{n}")).status_code == 200
            await asyncio.sleep(0.05)  # the server's close reaches the idle socket
    assert server.connections == 3


async def test_idle_connections_beyond_the_keep_alive_limit_are_closed() -> None:
    server = KeepAliveServer(delay=0.01)
    async with server.running() as url, guarded(url, max_connections=4, max_keepalive_connections=1) as http:
        await asyncio.gather(*(http.get(f"{url}/{n}") for n in range(4)))
        assert len(pool_of(http).connections) == 1  # four were busy at once; one is kept
        await http.get(f"{url}/again")
    assert (server.connections, server.requests) == (4, 5)  # the kept one served the fifth


async def test_idle_connections_that_expire_unused_are_closed_by_a_periodic_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sockets are probed on reuse, and all idle ones only now and then: one that is never
    # picked again must still be closed once its keep-alive runs out.
    monkeypatch.setattr(ConnectionPool, "SWEEP_SECONDS", 0.05)
    server = KeepAliveServer(delay=0.02)
    async with server.running() as url:
        policy = EgressPolicy(allow=parse_allowlist([url.removeprefix("http://")]), allow_http=True)
        async with policy.client(limits=httpx.Limits(max_connections=10, keepalive_expiry=0.2)) as http:
            await asyncio.gather(*(http.get(f"{url}/{n}") for n in range(3)))
            assert len(pool_of(http).connections) == 3
            for n in range(10):  # one at a time: the first idle connection serves them all
                await http.get(f"{url}/again-{n}")
                await asyncio.sleep(0.05)
            assert len(pool_of(http).connections) == 1
    assert server.connections == 3


async def test_a_small_answer_is_read_and_its_connection_handed_back_before_it_is_returned() -> None:
    # A length-framed answer within gateway.egress.READ_AT_ONCE_BYTES comes back already read:
    # a streamed response the caller never reads (nor closes) holds no connection.
    server = KeepAliveServer()
    async with server.running() as url, guarded(url, max_connections=1) as http:
        request = http.build_request("GET", f"{url}/first")
        unread = await http.send(request, stream=True)
        assert [c.is_idle() for c in pool_of(http).connections] == [True]
        assert (await asyncio.wait_for(http.get(f"{url}/second"), 2)).text == "ok"  # the one connection is free
        assert [chunk async for chunk in unread.aiter_bytes()] == [b"ok"]
        await unread.aclose()
    assert (server.connections, server.requests) == (1, 2)


def send_bytes(http: httpx.AsyncClient, url: str, path: str) -> Any:
    assert isinstance(http, GuardedClient)
    return http.send_bytes(Origin.of(url), b"GET", path.encode(), [], None, http.timeout.as_dict())


async def test_bytes_sent_take_a_free_connection_without_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    # send_bytes (a partner call) exchanges on an idle connection, or opens one, with no pass
    # of the queue: ten calls, five at a time, over five kept connections.
    server = KeepAliveServer(delay=0.01)
    async with server.running() as url, guarded(url, max_connections=5) as http:
        passes = count_passes(monkeypatch, pool_of(http))
        for _ in range(2):
            answers = await asyncio.gather(*(send_bytes(http, url, f"/{n}") for n in range(5)))
            assert answers == [(200, b"ok")] * 5
        assert passes[0] == 0
        assert [c.is_idle() for c in pool_of(http).connections] == [True] * 5
    assert (server.connections, server.requests) == (5, 10)


async def test_bytes_sent_wait_their_turn_when_requests_queue() -> None:
    # With every connection busy, a call joins httpcore's queue like any request, behind those
    # already waiting, and gets the connection when it comes back.
    server = KeepAliveServer(delay=0.05)
    async with server.running() as url, guarded(url, max_connections=1) as http:
        first = asyncio.create_task(http.get(f"{url}/first"))
        queued = asyncio.create_task(http.get(f"{url}/queued"))
        await asyncio.sleep(0.01)
        assert await asyncio.wait_for(send_bytes(http, url, "/bytes"), 2) == (200, b"ok")
        assert queued.done() and (await first).status_code == (await queued).status_code == 200
        assert len(pool_of(http).connections) == 1
    assert (server.connections, server.requests) == (1, 3)


async def test_bytes_sent_keep_no_more_idle_connections_than_the_limit_nor_a_closed_one() -> None:
    server = KeepAliveServer(delay=0.01)
    async with server.running() as url, guarded(url, max_connections=4, max_keepalive_connections=1) as http:
        await asyncio.gather(*(send_bytes(http, url, f"/{n}") for n in range(4)))
        assert len(pool_of(http).connections) == 1  # four were busy at once; one is kept
        assert await send_bytes(http, url, "/again") == (200, b"ok")
    assert (server.connections, server.requests) == (4, 5)
    closing = KeepAliveServer(close_idle=True)
    async with closing.running() as url, guarded(url, max_connections=1) as http:
        for n in range(3):
            assert await send_bytes(http, url, f"/{n}") == (200, b"ok")
            await asyncio.sleep(0.05)  # the server's close reaches the idle socket
        assert len(pool_of(http).connections) == 1
    assert closing.connections == 3
