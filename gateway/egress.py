"""The egress guard: every request Ponte sends leaves through one checked httpx transport.

Ponte calls URLs that tenants and partners hand it (insurer ``base_url``, the core-system and
client-portal addresses, a document's ``content_url``, event endpoints), so without a guard a
tenant could point it at ``http://169.254.169.254/``, at the gateway's own ``/metrics`` or at
the private network and read the answer back. The guard:

- allows ``http``/``https`` only, and ``http`` only with ``PONTE_EGRESS_ALLOW_HTTP`` (dev, tests);
- resolves the host *at connect time* and connects to the address it checked (never resolving
  twice), so a name that rebinds to a private address after a configuration check is refused;
- refuses loopback, private (RFC 1918, ULA), shared, link-local (metadata), multicast,
  unspecified and reserved addresses, and IPv6 forms that embed them (``::ffff:127.0.0.1``,
  6to4, NAT64); integer and short IPv4 spellings (``2130706433``) resolve to what they mean first;
- lets through only what ``PONTE_EGRESS_ALLOW`` names (CIDRs or ``host:port``), which
  ``ponte dev`` sets to exactly the sandbox;
- checks every redirect hop the same way (httpx sends each hop through the transport), and
  caps response bodies (``EgressPolicy.max_response_bytes``, or ``max_bytes(n)`` per request).

Use it like this (``runtime.egress`` is ``EgressPolicy.from_settings(settings)``):

- ``runtime.http`` is already ``runtime.egress.client()``: share it, or call ``client(...)``
  for one with other timeouts/base_url/auth. Never build a bare ``httpx.AsyncClient`` for
  outbound calls.
- ``await runtime.egress.check_url(url)`` when a tenant saves an address; it raises
  ``EgressRefused`` which ``refusal_problem(exc, pointer)`` turns into a 422 with a pointer.
- A refusal at send time raises ``EgressRefused`` (a ``PermanentPartnerError`` with code
  ``egress_refused``), so tasks and deliveries fail at once with that code; an oversized body
  raises ``ResponseTooLarge`` (code ``response_too_large``). Neither is retried.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions

from gateway.errors import FieldError, Unprocessable
from gateway.http11 import Exchange
from gateway.http_pool import ConnectionPool
from gateway.partners.errors import PermanentPartnerError
from gateway.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata services, named so a refusal says what was hit (all are non-global anyway).
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_BYTES_EXTENSION = "ponte_max_response_bytes"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100)
READ_AT_ONCE_BYTES = 64 * 1024  # a length-framed answer up to this size is read before it is returned


class EgressRefused(PermanentPartnerError):
    """An outbound request the egress policy does not allow; never retried."""

    code = "egress_refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code=self.code)


class ResponseTooLarge(PermanentPartnerError):
    code = "response_too_large"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code=self.code)


def refusal_problem(exc: EgressRefused, pointer: str) -> Unprocessable:
    """The 422 a configuration endpoint answers when an address it was given is refused."""
    return Unprocessable(exc.detail, errors=[FieldError(pointer=pointer, detail=exc.detail)])


async def check_configured_url(policy: EgressPolicy, url: str, *, pointer: str) -> None:
    """``policy.check_url`` for an address in a request body: a refusal is a 422 at ``pointer``."""
    try:
        await policy.check_url(url)
    except EgressRefused as exc:
        raise refusal_problem(exc, pointer) from exc


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"embeds {embedded}, which is {inner}" if inner else None
    checks = (
        (address in METADATA, "a cloud metadata address"),
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not publicly routable"),
    )
    return next((reason for hit, reason in checks if hit), None)


@dataclass(frozen=True)
class AllowEntry:
    """One allowlist entry: a network (any port) or a host:port (the name as written, or an IP)."""

    network: IPNetwork | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        text = text.strip()
        try:
            return cls(network=ipaddress.ip_network(text, strict=False))
        except ValueError:
            pass
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"egress allowlist entry {text!r} is neither a CIDR nor host:port")
        return cls(host=host.strip("[]").lower(), port=int(port))

    def admits(self, host: str, port: int, address: IPAddress) -> bool:
        if self.network is not None:
            return address.version == self.network.version and address in self.network
        if port != self.port:
            return False
        if self.host == host.lower():
            return True
        try:
            return ipaddress.ip_address(self.host or "") == address
        except ValueError:
            return False


async def system_resolver(host: str, port: int) -> list[str]:
    """Addresses for ``host`` from the OS (getaddrinfo also reads ``2130706433`` as 127.0.0.1)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressPolicy:
    """What Ponte may connect to. Build with ``from_settings``; tests pass a stub ``resolver``."""

    # A plain class, not a dataclass: Litestar's signature models would try to type its fields.
    def __init__(
        self,
        allow: Iterable[AllowEntry] = (),
        *,
        allow_http: bool = False,
        max_response_bytes: int = 16 * 1024 * 1024,
        resolver: Resolver | None = None,
    ) -> None:
        self.allow = tuple(allow)
        self.allow_http = allow_http
        self.max_response_bytes = max_response_bytes
        self.resolver = resolver or system_resolver  # looked up now: the test suite swaps it

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: Resolver | None = None) -> EgressPolicy:
        return cls(
            allow=parse_allowlist(settings.egress_allow.split(",")),
            allow_http=settings.egress_allow_http,
            max_response_bytes=settings.egress_max_response_bytes,
            resolver=resolver,
        )

    def check_scheme(self, url: httpx.URL) -> None:
        if url.scheme == "https" or (url.scheme == "http" and self.allow_http):
            return
        allowed = "http or https" if self.allow_http else "https"
        raise EgressRefused(f"{url.scheme or 'a missing'} scheme refused: only {allowed} is allowed")

    async def addresses(self, host: str, port: int) -> list[str]:
        """The resolved addresses of ``host`` Ponte may connect to; ``EgressRefused`` if none.

        Only checked addresses are returned, and the caller connects to them directly, so what
        was checked is what is reached. A DNS failure is an ``httpcore.ConnectError`` (transient).
        """
        try:
            resolved = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            try:
                resolved = await self.resolver(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed: list[str] = []
        reasons: list[str] = []
        for text in resolved:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
            reason = blocked_reason(address)
            if reason is None or any(entry.admits(host, port, address) for entry in self.allow):
                allowed.append(text)
            else:
                reasons.append(f"{address} is {reason}")
        if not allowed:
            detail = "; ".join(reasons) or "it resolves to no address"
            shown = f"[{host.strip('[]')}]" if ":" in host else host
            raise EgressRefused(f"destination {shown}:{port} refused: {detail}")
        return allowed

    async def check_url(self, url: str) -> None:
        """Configuration-time check of an address a tenant gives; raises ``EgressRefused``.

        A name that does not resolve now is refused too: an address must work when saved.
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise EgressRefused(f"not a valid URL: {exc}") from exc
        self.check_scheme(parsed)
        if not parsed.host:
            raise EgressRefused("the URL has no host")
        try:
            await self.addresses(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
        except httpcore.ConnectError as exc:
            raise EgressRefused(str(exc)) from exc

    def transport(self, **kwargs: typing.Any) -> GuardedTransport:
        return GuardedTransport(self, **kwargs)

    def client(self, **kwargs: typing.Any) -> httpx.AsyncClient:
        """A guarded ``httpx.AsyncClient``: default timeouts, redirects not followed unless asked
        (``follow_redirects=True``; every hop is checked), bodies capped. Other kwargs pass through."""
        limits = kwargs.pop("limits", DEFAULT_LIMITS)
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("max_redirects", 5)
        return GuardedClient(transport=self.transport(limits=limits), **kwargs)


class _Cookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        # httpx hands every response to the cookie jar, through urllib's request and response
        # adapters (URL parsing included), even when it sets no cookie: 4% of a worker's CPU
        # in bench.document_delivery, where no answer sets one.
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


@dataclass(frozen=True)
class Origin:
    """A partner's base URL, parsed once, for ``GuardedClient.send_bytes``."""

    url: httpx.URL
    host_header: bytes  # host, and port unless the scheme's default
    prefix: bytes  # the base URL's path, percent-encoded, without a trailing slash
    key: httpcore.Origin  # the pool's: scheme, host and port (the scheme's default if none)

    @classmethod
    def of(cls, base_url: str) -> Origin:
        url = httpx.URL(base_url)
        key = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=b"/").origin
        return cls(url, url.netloc, url.raw_path.split(b"?", 1)[0].rstrip(b"/"), key)


class GuardedClient(httpx.AsyncClient):
    """The client ``EgressPolicy.client`` makes: httpx's, whose cookie jar skips answers without cookies."""

    def __init__(self, *, cookies: httpx._types.CookieTypes | None = None, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _Cookies(cookies)

    async def send_bytes(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        content: bytes | None,
        timeout: dict[str, float | None],
    ) -> tuple[int, bytes]:
        """``method`` on ``origin`` + ``target`` (a percent-encoded path and query) with exactly
        ``headers`` (plus Host and Content-Length), sent through the guarded pool: the status
        and the whole body.

        For a partner call that follows no redirect and uses no auth flow, event hook or
        cookie. Building an ``httpx.Request`` (parsing its URL), converting it for httpcore and
        wrapping the answer in two ``httpx.Response`` objects was a sixth of what a 2 KB
        portal upload cost the client (about 215 us against 180 in a loop of uploads). It
        also takes a free connection of the pool straight (``ConnectionPool.send``) instead of
        an httpcore request through the pool's queue, whose bookkeeping, request and response
        objects were still half of what a call cost the worker. The guard is the same: the
        scheme is checked here, the connection is the pool's (opened only where the policy
        allows) and the body is capped at ``max_response_bytes``; transport errors are httpx's.
        """
        transport = typing.cast(GuardedTransport, self._transport)
        policy, url = transport._policy, origin.url
        policy.check_scheme(url)
        head = [(b"Host", origin.host_header), *headers]
        if content or method in _BODY_METHODS:
            head.append((b"Content-Length", b"%d" % len(content or b"")))
        limit = policy.max_response_bytes
        request = Exchange(method, origin.prefix + target, head, content, timeout, limit, _BodyLimit(limit, url.host))
        with map_httpcore_exceptions():
            # An idle connection of the pool, or a new one: no httpcore request or response.
            answer = await transport._pool.send(origin.key, request)
            if answer is None:  # the pool is busy: wait in its queue like any request
                answer = await _queued(transport._pool, url, request)
        status, response_headers, body = answer
        if any(name.lower() == b"content-encoding" for name, _ in response_headers):
            body = httpx.Response(status, headers=response_headers, content=body).content  # decoded
        return status, body


_BODY_METHODS = frozenset((b"POST", b"PUT", b"PATCH"))  # httpx sends Content-Length: 0 for these


async def _queued(
    pool: ConnectionPool, url: httpx.URL, request: Exchange
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``send_bytes``'s request through httpcore's queue, for when the pool has nothing free."""
    address = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=request.target)
    extensions = {"timeout": request.timeouts}
    queued = httpcore.Request(
        request.method, address, headers=request.headers, content=request.content, extensions=extensions
    )
    response = await pool.handle_async_request(queued)
    try:
        for name, value in response.headers:
            if name.lower() == b"content-length" and (too_large := request.too_large(value)) is not None:
                raise too_large
        chunks = _capped(typing.cast(AsyncIterator[bytes], response.stream), request.limit, url.host)
        return response.status, response.headers, b"".join([chunk async for chunk in chunks])
    finally:
        await response.aclose()


class _BodyLimit:
    """The body rule for ``ConnectionPool.send``: the error for an announced length over the
    limit (None within it), or, given None, for a body that counted past it."""

    __slots__ = ("host", "limit")

    def __init__(self, limit: int, host: str) -> None:
        self.limit, self.host = limit, host

    def __call__(self, declared: bytes | None) -> ResponseTooLarge | None:
        if declared is None:
            return _sent_too_much(self.limit, self.host)
        return _announced_too_large(declared, self.limit, self.host)


def _announced_too_large(declared: str | bytes, limit: int, host: str) -> ResponseTooLarge | None:
    """The error for a Content-Length over ``limit``; None when it is within it (or not a number)."""
    if declared.isdigit() and int(declared) > limit:
        return ResponseTooLarge(f"{host} announced {int(declared)} bytes, over the {limit}-byte limit")
    return None


async def _capped(chunks: AsyncIterator[bytes], limit: int, host: str) -> AsyncIterator[bytes]:
    """``chunks`` as they come, until more than ``limit`` bytes came: then ``ResponseTooLarge``."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise _sent_too_much(limit, host)
        yield chunk


def _sent_too_much(limit: int, host: str) -> ResponseTooLarge:
    return ResponseTooLarge(f"{host} sent more than the {limit}-byte limit")


def max_bytes(limit: int) -> dict[str, typing.Any]:
    """Per-request body cap: ``client.get(url, extensions=max_bytes(n))``."""
    return {MAX_BYTES_EXTENSION: limit}


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose pool connects only where the policy allows.

    httpx takes no network backend, so the pool is rebuilt with connections that resolve and
    check the host at connect time (``EgressPolicy.addresses``) and connect to what passed;
    with ``transport=`` set, httpx also ignores proxy environment variables, which would
    otherwise bypass the check.
    """

    _pool: ConnectionPool

    def __init__(self, policy: EgressPolicy, *, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits)
        self._policy = policy
        self._pool = ConnectionPool(  # httpcore's pool with a cheaper assignment pass
            policy.addresses,
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.check_scheme(request.url)
        limit = int(request.extensions.get(MAX_BYTES_EXTENSION, self._policy.max_response_bytes))
        response = await super().handle_async_request(request)
        declared = response.headers.get("content-length", "")
        if too_large := _announced_too_large(declared, limit, request.url.host):
            await response.aclose()
            raise too_large
        if declared.isdigit() and "transfer-encoding" not in response.headers:
            # Framed by a length within the limit: the connection reads no byte past it, so a
            # counting layer would only add an async generator per response.
            if int(declared) <= READ_AT_ONCE_BYTES:
                return await _read_at_once(request, response)
            return response
        stream = typing.cast(httpx.AsyncByteStream, response.stream)
        response.stream = _CappedStream(stream, limit, request.url.host)
        return response


async def _read_at_once(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    """The response with its body read and its connection handed back to the pool.

    A small answer (every partner reply, most of them a few hundred bytes) is then one read
    here instead of a chunk passed up four async generators (the pool's, httpx's raw, byte and
    decoded streams) and two closes, about a tenth of a 2 KB portal upload's CPU. The caller
    sees an ordinary response whose body is already there (``content``, ``aiter_bytes``)."""
    stream = typing.cast(httpx.AsyncByteStream, response.stream)
    try:
        body = b"".join([chunk async for chunk in stream])
    finally:
        await stream.aclose()
    return httpx.Response(
        response.status_code, headers=response.headers, content=body, extensions=response.extensions, request=request
    )


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, host: str) -> None:
        self._inner, self._limit, self._host = inner, limit, host

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in _capped(aiter(self._inner), self._limit, self._host):
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RefuseAllTransport(httpx.BaseTransport):
    """For sync clients that must exist but never send (zeep's WSDL client, WSDLs are preloaded)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise EgressRefused(f"synchronous request to {request.url.host} refused")


def parse_allowlist(entries: Sequence[str]) -> tuple[AllowEntry, ...]:
    return tuple(AllowEntry.parse(e) for e in entries if e.strip())
