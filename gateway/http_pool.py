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
"""

from __future__ import annotations

import time
from typing import Any

import httpcore
from httpcore._async.connection_pool import AsyncPoolRequest
from httpcore._async.interfaces import AsyncConnectionInterface

from gateway.http11 import Addresses, Http11Connection


class ConnectionPool(httpcore.AsyncConnectionPool):
    SWEEP_SECONDS = 1.0

    def __init__(self, addresses: Addresses, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._addresses = addresses  # where a connection may go: the egress policy's check
        self._next_sweep = 0.0

    def create_connection(self, origin: httpcore.Origin) -> AsyncConnectionInterface:
        return Http11Connection(
            origin, self._addresses, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry
        )

    async def _close_connections(self, closing: list[AsyncConnectionInterface]) -> None:
        # Called twice per request, nearly always with nothing to close; httpcore enters an
        # anyio shield (asking sniffio which loop runs) before looking.
        if closing:
            await super()._close_connections(closing)

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []
        # A connection handed to a request that has not started on it yet still looks idle.
        promised = {r.connection for r in self._requests if r.connection is not None}
        self._connections = [c for c in self._connections if not c.is_closed()]
        free = [c for c in self._connections if c not in promised and c.is_idle()]
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            for expired in [c for c in free if c.has_expired()]:
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
