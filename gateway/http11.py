"""The HTTP/1.1 connection behind the egress pool: an asyncio protocol parsed by httptools.

httpcore's own connection runs h11 over anyio streams: every request builds h11 events, enters
anyio cancel scopes and locks (each asking sniffio which loop is running), and sends the head,
the body and the end of the message as separate writes, each a system call. For a 2 KB portal
upload that was about 0.5 ms of a worker's CPU, more than half of what the upload cost in
httpx (profiled in bench/document_delivery). This connection writes a request in one call and
lets httptools (llhttp, already uvicorn's parser) read the answer as it arrives; the pool
(gateway/http_pool.py) and httpx above it are unchanged.

It speaks what Ponte sends and partners answer: HTTP/1.1 with keep-alive, request bodies with
a Content-Length or chunked, responses framed by Content-Length, chunked or the connection's
end, informational (1xx) answers skipped. Upgrades and CONNECT are refused. Every connection is
opened through ``addresses`` (the egress policy's check, gateway/egress.py) to an address it
returned, so what was checked is what is reached; TLS still verifies the URL's host name.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, cast

import httpcore
import httptools
from httpcore._async.interfaces import AsyncConnectionInterface

Addresses = Callable[[str, int], Awaitable[list[str]]]

_NEW, _ACTIVE, _IDLE, _CLOSED = "NEW", "ACTIVE", "IDLE", "CLOSED"
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")
WRITE_CHUNK = 64 * 1024  # a streamed request body is written in pieces of about this size
READ_BUFFER = 1024 * 1024  # unread response body held before the socket stops being read


def request_head(request: httpcore.Request) -> bytes:
    """The request line and headers; ``LocalProtocolError`` for anything that could split them."""
    return head_bytes(request.method, request.url.target, request.headers)


def head_bytes(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``request_head`` from its parts."""
    if _BAD_TARGET.search(target) or not _TOKEN.fullmatch(method):
        raise httpcore.LocalProtocolError("invalid request line")
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise httpcore.LocalProtocolError(f"invalid header {name!r}")
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


class Exchange(NamedTuple):
    """A request whose body is in hand and whose answer is read whole (``Http11Connection.exchange``).

    ``headers`` carry the framing (Host, Content-Length). A body over ``limit`` bytes raises
    the error ``too_large`` gives for the Content-Length it announced (None when that is
    within the limit), or, counted as it comes, for None.
    """

    method: bytes
    target: bytes
    headers: Sequence[tuple[bytes, bytes]]
    content: bytes | None
    timeouts: Mapping[str, float | None]
    limit: int
    too_large: Callable[[bytes | None], Exception | None]


def _chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in headers)


class Http11Connection(asyncio.Protocol, AsyncConnectionInterface):
    """One keep-alive connection to one origin, serving one request at a time."""

    def __init__(
        self,
        origin: httpcore.Origin,
        addresses: Addresses,
        *,
        ssl_context: ssl.SSLContext | None,
        keepalive_expiry: float | None,
    ) -> None:
        self._origin = origin
        self._addresses = addresses
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._state = _NEW
        self._connect_failed = False
        self._expire_at: float | None = None
        self._request_count = 0
        self._transport: asyncio.Transport | None = None
        self._reading_paused = False
        self._lost = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._reset_exchange(head=False)

    def _reset_exchange(self, *, head: bool) -> None:
        self._head = head  # a HEAD answer has no body, whatever it announces
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._headers_done = False
        self._informational = False
        self._complete = False
        self._keep_alive = False
        self._until_close = False
        self._body: list[bytes] = []
        self._buffered = 0
        self._error: Exception | None = None

    # --- the pool's interface -----------------------------------------------------------------

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if request.url.origin != self._origin:
            raise RuntimeError(f"Attempted to send request to {request.url.origin} on connection to {self._origin}")
        self._begin()
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        try:
            await self._ready(request.method, timeouts)
            await self._send(request, timeouts.get("write"))
            while not self._headers_done:
                await self._next_event(read_timeout)
        except BaseException:
            self._close()
            raise
        return httpcore.Response(
            status=self._status,
            headers=self._headers,
            content=_ResponseBody(self, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": self._reason},
        )

    async def exchange(self, request: Exchange) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One request written whole and its answer read whole: the status, headers and body.

        What ``handle_async_request``, reading the response and closing it do, without
        httpcore's request and response objects (the pool's ``send``). On any error, a body
        over the limit included, the connection is closed.
        """
        method, timeouts, limit, too_large = request.method, request.timeouts, request.limit, request.too_large
        self._begin()
        read_timeout = timeouts.get("read")
        chunks: list[bytes] = []
        try:
            head = head_bytes(method, request.target, request.headers)
            await self._ready(method, timeouts)
            content = request.content
            await self._write([head, content] if content else [head], timeouts.get("write"))
            while not self._headers_done:
                await self._next_event(read_timeout)
            for name, value in self._headers:
                if name.lower() == b"content-length" and (error := too_large(value)) is not None:
                    raise error
            seen = 0
            while True:
                if self._body:
                    body, self._body, self._buffered = self._body, [], 0
                    self._resume_reading()
                    seen += sum(map(len, body))
                    if seen > limit:
                        raise too_large(None) or httpcore.ReadError("the answer is too large")
                    chunks += body
                if self._complete:
                    break
                await self._next_event(read_timeout)
        except BaseException:
            self._close()
            raise
        self._release()
        return self._status, self._headers, chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _begin(self) -> None:
        """The connection taken for a request (the pool handed it over as available)."""
        if self._state not in (_NEW, _IDLE) or self._lost:
            raise httpcore.ConnectionNotAvailable()
        self._state, self._expire_at = _ACTIVE, None
        self._request_count += 1

    async def _ready(self, method: bytes, timeouts: Mapping[str, float | None]) -> None:
        """Connected (on first use), with the last answer's state cleared for this one."""
        if self._transport is None:
            await self._connect(timeouts.get("connect"))
        self._reset_exchange(head=method == b"HEAD")

    async def aclose(self) -> None:
        self._close()

    def close_now(self) -> None:
        self._close()

    def info(self) -> str:
        return f"{str(self._origin)!r}, HTTP/1.1, {self._state}, Request Count: {self._request_count}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.info()}]>"

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self._origin

    def is_available(self) -> bool:
        return self._state == _IDLE and not self._lost

    def has_expired(self) -> bool:
        # The event loop reports a server's close as it happens (connection_lost), so unlike
        # httpcore there is no socket to poll here.
        if self._connect_failed:
            return True
        expired = self._expire_at is not None and time.monotonic() > self._expire_at
        return self._state == _IDLE and (self._lost or expired)

    def is_idle(self) -> bool:
        return self._state == _IDLE or self._connect_failed

    def is_closed(self) -> bool:
        return self._state == _CLOSED or self._connect_failed

    # --- connecting, sending, waiting ---------------------------------------------------------

    async def _connect(self, timeout: float | None) -> None:
        host, port = self._origin.host.decode("ascii"), self._origin.port or 80
        tls = self._ssl_context if self._origin.scheme == b"https" else None
        loop = asyncio.get_running_loop()
        failure: Exception | None = None
        try:
            async with asyncio.timeout(timeout):
                for address in await self._addresses(host, port):  # only the addresses the guard allows
                    try:
                        await loop.create_connection(
                            lambda: self, address, port, ssl=tls, server_hostname=host if tls else None
                        )
                        return
                    except OSError as exc:  # ssl.SSLError included
                        failure = exc
        except TimeoutError as exc:
            self._connect_failed = True
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except BaseException:
            self._connect_failed = True
            raise
        self._connect_failed = True
        raise httpcore.ConnectError(str(failure) if failure else f"cannot connect to {host}:{port}") from failure

    async def _send(self, request: httpcore.Request, timeout: float | None) -> None:
        chunked = _chunked(request.headers)
        parts, size = [request_head(request)], 0
        async for chunk in cast(AsyncIterable[bytes], request.stream):
            if chunk:
                parts.append(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                size += len(chunk)
            if size >= WRITE_CHUNK:
                await self._write(parts, timeout)
                parts, size = [], 0
        if chunked:
            parts.append(b"0\r\n\r\n")
        if parts:  # empty when the body ended on a write's boundary
            await self._write(parts, timeout)

    async def _write(self, parts: list[bytes], timeout: float | None) -> None:
        if self._lost or self._transport is None:
            raise httpcore.WriteError("the server closed the connection")
        self._transport.write(b"".join(parts) if len(parts) > 1 else parts[0])
        while self._writable is not None and not self._lost:
            await self._wait(self._writable, timeout, httpcore.WriteTimeout)

    async def _next_event(self, timeout: float | None) -> None:
        """Wait for the answer to move on (data, its end, or an error), then raise any error."""
        if self._error is None and not self._complete:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._wait(self._waiter, timeout, httpcore.ReadTimeout)
            finally:
                self._waiter = None
        if self._error is not None:
            raise self._error

    async def _wait(self, future: asyncio.Future[None], timeout: float | None, error: type[Exception]) -> None:
        # One timer per wait, instead of a cancel scope per read.
        timer = None
        if timeout is not None:
            timer = asyncio.get_running_loop().call_later(timeout, _fail, future, error)
        try:
            await future
        finally:
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _release(self) -> None:
        """The response was closed: keep the connection for the next request, or close it."""
        if self._state != _ACTIVE:
            return
        if self._complete and self._keep_alive and not self._lost and not self._head:
            self._state = _IDLE
            if self._keepalive_expiry is not None:
                self._expire_at = time.monotonic() + self._keepalive_expiry
            self._body, self._buffered = [], 0
            self._resume_reading()
        else:
            self._close()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None and not self._lost:
            self._reading_paused = False
            self._transport.resume_reading()

    def _close(self) -> None:
        self._state = _CLOSED
        if self._transport is not None:
            self._transport.close()

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses

    def data_received(self, data: bytes) -> None:
        if self._state != _ACTIVE or self._complete:
            self._lost = True  # bytes nobody asked for: the connection cannot be trusted again
            self._close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._error = httpcore.RemoteProtocolError("the server switched protocols")
        except httptools.HttpParserError as exc:
            if not self._complete:  # bytes after a complete answer spoil the connection, not the answer
                self._error = httpcore.RemoteProtocolError(f"invalid HTTP response: {exc}")
            self._lost = True
            self._close()
        if self._error is not None:
            self._lost = True
            self._close()
        elif self._buffered > READ_BUFFER and self._transport is not None and not self._reading_paused:
            self._reading_paused = True  # the reader is behind: hold the server back
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._state == _IDLE:
            self._state = _CLOSED
        elif self._state == _ACTIVE and not self._complete and self._error is None:
            if self._headers_done and self._until_close:
                self._complete = True  # a body framed by the connection's end
            elif self._headers_done:
                self._error = httpcore.RemoteProtocolError("the server closed the connection inside the body")
            else:
                self._error = httpcore.RemoteProtocolError("Server disconnected without sending a response.")
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # --- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise ValueError("a second response to one request")

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._informational:
            self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and the like: the real answer follows
            self._informational = True
            self._headers = []
            self._reason = b""
            return
        self._status = status
        self._headers_done = True
        if self._head:
            self._complete = True  # llhttp would wait for the body a Content-Length announces
        elif status not in (204, 304):  # llhttp knows these have no body
            framed = _chunked(self._headers) or any(n.lower() == b"content-length" for n, _ in self._headers)
            self._until_close = not framed

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()


def _fail(future: asyncio.Future[None], error: type[Exception]) -> None:
    if not future.done():
        future.set_exception(error("timed out"))


class _ResponseBody:
    """The response's body as it arrives; closing it hands the connection back."""

    def __init__(self, connection: Http11Connection, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            if connection._body:
                body, connection._body, connection._buffered = connection._body, [], 0
                connection._resume_reading()
                yield body[0] if len(body) == 1 else b"".join(body)
            elif connection._complete:
                return
            else:
                await connection._next_event(self._timeout)

    async def aclose(self) -> None:
        self._connection._release()
