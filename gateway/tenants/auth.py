"""API-key authentication: tenant keys for tenant resources, the operator key for tenants.

Keys arrive as ``Authorization: Bearer <key>`` or ``X-API-Key``. Lookups are cached for a few
seconds per process so authenticated reads cost about what anonymous ones do; a revocation
takes effect at once in the process that revoked and within the cache TTL elsewhere.

The middleware is plain ASGI on the raw header list: it runs on every authenticated request,
and Litestar's ``AbstractAuthenticationMiddleware`` built a connection object and a parsed
header map for each one, only to read one header.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import select

from gateway.crypto import hash_api_key
from gateway.errors import Forbidden, Unauthorized
from gateway.tenants.models import ApiKey


class Principal(msgspec.Struct, frozen=True):
    tenant_id: uuid.UUID | None
    key_id: uuid.UUID | None
    operator: bool = False


OPERATOR = Principal(tenant_id=None, key_id=None, operator=True)

# Paths that authenticate otherwise (webhook signatures, the console's own sessions) or not at
# all (health, docs, metrics).
PUBLIC_PATHS = [
    r"^/health",
    r"^/metrics",
    r"^/docs",
    r"^/schema",
    r"^/v1/webhooks/[^/]+$",
    r"^/ping$",
    r"^/$",
    r"^/console(/|$)",
]


class KeyCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, key_hash: str) -> tuple[bool, Principal | None]:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key_hash: str, principal: Principal | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        self._entries.clear()


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key from ``Authorization: Bearer`` (preferred) or ``X-API-Key``, from raw ASGI headers."""
    authorization = api_key = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"x-api-key":
            api_key = value
    if authorization and authorization[:7].lower() == b"bearer ":
        return authorization[7:].strip().decode("latin-1") or None
    return api_key.decode("latin-1") if api_key else None


async def resolve_key(state: Any, key: str) -> Principal | None:
    """The principal a presented key stands for, or None: the API's middleware and the
    console's sign-in share this one lookup."""
    operator_key: str = state.settings.operator_key
    # An empty operator key would match an empty header: treat it as "no operator".
    if operator_key and hmac.compare_digest(key.encode(), operator_key.encode()):
        return OPERATOR
    key_hash = hash_api_key(key)
    return await _unrevoked(state, key_hash, lambda: ApiKey.key_hash == key_hash)


async def _unrevoked(state: Any, entry: str, which: Callable[[], Any]) -> Principal | None:
    """The unrevoked key ``which()`` selects as a principal, through the process's key cache.
    ``which`` builds its clause only on a miss: building it took more CPU than the cache hit."""
    cache: KeyCache = state.key_cache
    hit, principal = cache.get(entry)
    if not hit:
        async with state.db.sessionmaker() as session:
            statement = select(ApiKey.id, ApiKey.tenant_id).where(which(), ApiKey.revoked_at.is_(None))
            row = (await session.execute(statement)).first()
        principal = Principal(tenant_id=row.tenant_id, key_id=row.id) if row else None
        cache.put(entry, principal)
    return principal


async def key_in_force(state: Any, key_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant key ``key_id`` is still unrevoked. A console session signed in with a
    key asks this on every request; the answer shares the API's cache (and its TTL, and the
    clearing on revocation), so a revoked key ends its sessions as soon as it stops the API."""
    # Key hashes are hex, so "id:" entries never collide with them.
    principal = await _unrevoked(state, f"id:{key_id}", lambda: ApiKey.id == key_id)
    return principal is not None and principal.tenant_id == tenant_id


async def authenticate(scope: Scope) -> Principal:
    """The caller of this request, or ``Unauthorized``."""
    key = presented_key(scope["headers"])
    if key is None:
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
    principal = await resolve_key(scope["app"].state, key)
    if principal is None:
        raise Unauthorized("The API key is unknown or revoked.")
    return principal


class ApiKeyAuthentication:
    """Sets ``scope["user"]`` to the caller's ``Principal``; 401 without a valid key.

    Public paths (``exclude``), handlers with ``opt={"exclude_from_auth": True}`` and OPTIONS
    (which only answers the Allow header) pass through unauthenticated, as with Litestar's
    authentication middleware.
    """

    def __init__(self, app: ASGIApp, exclude: list[str] | None = None) -> None:
        self.app = app
        self.public = re.compile("|".join(exclude or PUBLIC_PATHS))

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function: what bypasses authentication goes on without a coroutine of its own.
        bypass = (
            scope.get("method") == "OPTIONS"
            or self.public.match(scope["path"]) is not None
            or scope["route_handler"].opt.get("exclude_from_auth", False)
        )
        if bypass:
            return self.app(scope, receive, send)
        return self._authenticated(scope, receive, send)

    async def _authenticated(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = await authenticate(scope)
        scope["auth"] = None
        await self.app(scope, receive, send)


def provide_tenant_id(request: Any) -> uuid.UUID:
    """Dependency for tenant resources: the caller's tenant, from its key."""
    return tenant_of(request.user)


def tenant_of(principal: Principal) -> uuid.UUID:
    """The principal's tenant; ``Forbidden`` for the operator key."""
    if principal.tenant_id is None:
        raise Forbidden("This endpoint acts for one tenant: use a tenant API key.")
    return principal.tenant_id


def require_operator(connection: ASGIConnection[Any, Any, Any, Any], _: Any) -> None:
    """Guard for tenant and key management."""
    # OPTIONS skips authentication (Litestar's default) and only answers the Allow header.
    if connection.scope.get("method") == "OPTIONS":
        return
    if not connection.user.operator:
        raise Forbidden("This endpoint needs the operator key.")
