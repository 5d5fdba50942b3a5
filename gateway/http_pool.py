"""The connection pool behind the egress transport: httpcore's, with a cheaper assignment pass.

httpcore 1.0's pool runs ``_assign_requests_to_connections`` when a request arrives and when a
response closes. That pass probes every idle socket with ``poll()`` (``has_expired``), counts
idle connections once per idle connection (quadratic), and hands one idle HTTP/1.1 connection
to every queued request: all but one wake up, meet ``ConnectionNotAvailable`` and queue again,
each time with another full pass (encode/httpcore#1035, pydantic/httpx2#1075). With 20
uploads in flight that bookkeeping was most of a request's CPU (1.5 ms against 0.45 ms).

This pass walks the connections once and gives an idle connection to one waiting request
only. It probes a socket for a server-side close when the socket is about to be reused, and
all idle ones at most once a second (``SWEEP_SECONDS``, so one the server closed, or whose
keep-alive ran out, is still closed on our side soon), not on every pass. What it decides is
what httpcore decides: reuse an idle connection to the origin, else open one under
``max_connections``, else close an idle one to make room, else wait. The transport speaks
HTTP/1.1 only (no ``http2``), so one connection serves one request, and its connections are
``gateway.http11.Http11Connection``: opened through the egress check, cheaper per request
than httpcore's own.

``send`` is a shorter way through the same pool for a request whose body is in hand and whose
answer is read whole (a partner call, ``GuardedClient.send_bytes``): it takes an idle
connection (or opens one under ``max_connections``) and exchanges the request on it, with no
httpcore request, response or queue entry. When requests wait in httpcore's queue it steps
aside (they go first, through the pass), and the caller takes the ordinary way.
"""

from __future__ import annotations

import time
from collections.abc import Container
from typing import Any, cast

import httpcore
from httpcore._async.connection_pool import AsyncPoolRequest
from httpcore._async.interfaces import AsyncConnectionInterface

from gateway.http11 import Addresses, Exchange, Http11Connection


class ConnectionPool(httpcore.AsyncConnectionPool):
    SWEEP_SECONDS = 1.0

    def __init__(self, addresses: Addresses, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._addresses = addresses  # where a connection may go: the egress policy's check
        self._next_sweep = 0.0

    def create_connection(self, origin: httpcore.Origin) -> Http11Connection:
        return Http11Connection(
            origin, self._addresses, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry
        )

    async def _close_connections(self, closing: list[AsyncConnectionInterface]) -> None:
        # Called twice per request, nearly always with nothing to close; httpcore enters an
        # anyio shield (asking sniffio which loop runs) before looking.
        if closing:
            await super()._close_connections(closing)

    async def send(
        self, origin: httpcore.Origin, request: Exchange
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """``Http11Connection.exchange`` on a connection of the pool; None when none is free
        and none may be opened, or requests wait in the queue: the caller then goes through
        ``handle_async_request``."""
        connection = self._take(origin)
        if connection is None:
            return None
        try:
            return await connection.exchange(request)
        finally:
            await self._hand_back(connection)

    def _take(self, origin: httpcore.Origin) -> Http11Connection | None:
        """An idle connection to ``origin`` (the longest idle first, as in the pass), or a new one."""
        promised: set[AsyncConnectionInterface | None] = set()
        if self._requests:
            if any(r.is_queued() for r in self._requests):
                return None
            promised = {r.connection for r in self._requests}
        closing = [c for c in self._idle(promised) if c.has_expired()] if self._sweep_due() else []
        taken: Http11Connection | None = None
        for connection in self._connections:
            if connection.is_available() and connection.can_handle_request(origin) and connection not in promised:
                if connection.has_expired():  # keep-alive ran out, or the server closed it
                    if connection not in closing:  # the sweep may have found it already
                        closing.append(connection)
                    continue
                taken = cast(Http11Connection, connection)
                break
        for connection in closing:
            self._connections.remove(connection)
            cast(Http11Connection, connection).close_now()
        if taken is None and len(self._connections) < self._max_connections:
            taken = self.create_connection(origin)
            self._connections.append(taken)
        return taken

    async def _hand_back(self, connection: Http11Connection) -> None:
        if connection.is_closed():
            if connection in self._connections:  # a pass in between may have dropped it
                self._connections.remove(connection)
        elif (
            len(self._connections) > self._max_keepalive_connections
            and connection.is_idle()
            and sum(c.is_idle() for c in self._connections) > self._max_keepalive_connections
        ):
            self._connections.remove(connection)
            connection.close_now()
        if self._requests:  # a request may wait for this connection, or for its room
            await self._close_connections(self._assign_requests_to_connections())

    def _idle(self, promised: Container[object]) -> list[AsyncConnectionInterface]:
        return [c for c in self._connections if c not in promised and c.is_idle()]

    def _sweep_due(self) -> bool:
        """Whether to look for idle connections whose keep-alive ran out: once every ``SWEEP_SECONDS``."""
        now = time.monotonic()
        if now < self._next_sweep:
            return False
        self._next_sweep = now + self.SWEEP_SECONDS
        return True

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []
        # A connection handed to a request that has not started on it yet still looks idle.
        promised = {r.connection for r in self._requests if r.connection is not None}
        self._connections = [c for c in self._connections if not c.is_closed()]
        free = self._idle(promised)
        for expired in [c for c in free if c.has_expired()] if self._sweep_due() else []:
            free.remove(expired)
            self._connections.remove(expired)
            closing.append(expired)
        surplus = max(len(free) - self._max_keepalive_connections, 0)
        for extra in free[:surplus]:  # the longest idle go first, as in httpcore
            self._connections.remove(extra)
            closing.append(extra)
        free = free[surplus:]
        for request in self._requests:
            if not request.is_queued():
                continue
            origin = request.request.url.origin
            connection: AsyncConnectionInterface | None = None
            for candidate in [c for c in free if c.can_handle_request(origin)]:
                free.remove(candidate)
                if candidate.has_expired():  # keep-alive ran out, or the server closed it
                    self._connections.remove(candidate)
                    closing.append(candidate)
                    continue
                connection = candidate
                break
            if connection is None:
                if len(self._connections) >= self._max_connections and free:
                    idle = free.pop(0)  # an idle connection to another origin makes room
                    self._connections.remove(idle)
                    closing.append(idle)
                if len(self._connections) >= self._max_connections:
                    break  # the rest wait for a connection to come back
                connection = self.create_connection(origin)
                self._connections.append(connection)
            _assign(request, connection)
        return closing


def _assign(request: AsyncPoolRequest, connection: AsyncConnectionInterface) -> None:
    """``request.assign_to_connection(connection)``, waking the request only if it waits.

    httpcore sets the request's event either way, and setting it first creates the anyio event
    (asking sniffio which loop runs): 2.8% of a worker's samples in bench.document_delivery.
    A request placed in the pass its own arrival runs has not waited yet and will not (it
    finds its connection set); one that waits has set its event up (``wait`` does, first).
    """
    if request._connection_acquired._backend:
        request.assign_to_connection(connection)
    else:
        request.connection = connection
