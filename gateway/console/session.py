"""Who is signed in to the console, and how the browser proves it.

Sessions live server-side in Valkey (Litestar's ``RedisStore`` on the queue's connection); the
browser only holds a random id in an HttpOnly, SameSite=Strict cookie, Secure everywhere but a
loopback http development address. Sessions expire after ``console_session_seconds`` without
use. CSRF is Litestar's double-submit check on every unsafe request: forms carry
``_csrf_token``, HTMX sends ``x-csrftoken`` (set once on ``<body hx-headers>``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession

from gateway.errors import NotFound
from gateway.settings import Settings
from gateway.tenants.auth import key_in_force

SESSION_COOKIE = "ponte_console"
CSRF_COOKIE = "ponte_console_csrf"
STORE_NAME = "console_sessions"
SESSION_MAX_AGE = 8 * 3600


class ConsoleUser(msgspec.Struct, frozen=True):
    """What the session holds: never the key itself."""

    operator: bool
    key_id: str | None = None
    tenant_id: str | None = None
    tenant_name: str | None = None
    key_fingerprint: str | None = None  # operator sessions: which operator key signed in

    @property
    def tenant_uuid(self) -> uuid.UUID | None:
        return uuid.UUID(self.tenant_id) if self.tenant_id else None


class SignInRequired(NotAuthorizedException):
    """No session (or it expired): the console answers with the sign-in page."""


class TenantRequired(NotAuthorizedException):
    """An operator signed in but has not picked the tenant to look at yet."""


def development(settings: Settings) -> bool:
    """Plain http on a loopback address is development; anything else gets Secure cookies."""
    url = urlsplit(settings.public_url)
    if url.scheme != "http":
        return False
    host = url.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


NEW_SESSION = "ponte_console_new_session"


class ConsoleSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side sessions, with two changes: a visitor who is not signed in gets no
    session at all (nothing stored, no cookie), and sign-in always starts a new session id, so
    an id planted in the browser before sign-in (session fixation) is never the signed-in one."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        if connection.scope.get(NEW_SESSION):
            # Asked once, when the response stores the session.
            return self.generate_session_id()
        return super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if not scope_session and self.config.key not in connection.cookies:
            return  # anonymous, and nothing to clear
        if connection.scope.get(NEW_SESSION) and (old := connection.cookies.get(self.config.key)):
            await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session or Empty, message, connection)


@dataclass
class ConsoleSessionConfig(ServerSideSessionConfig):
    _backend_class = ConsoleSessionBackend  # type: ignore[assignment]


def start_new_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any]) -> None:
    """Sign-in: the session gets a new id whatever cookie the browser came with."""
    cast(dict[str, Any], connection.scope)[NEW_SESSION] = True
    connection.set_session(data)


def session_config(settings: Settings) -> ServerSideSessionConfig:
    return ConsoleSessionConfig(
        key=SESSION_COOKIE,
        store=STORE_NAME,
        max_age=SESSION_MAX_AGE,
        renew_on_access=True,
        httponly=True,
        samesite="strict",
        secure=not development(settings),
        path="/console",
    )


def csrf_config(settings: Settings) -> CSRFConfig:
    # Derived from the deployment's secret so every gateway process accepts the others' tokens.
    secret = hmac.new(settings.secret_key.encode(), b"ponte-console-csrf", hashlib.sha256).hexdigest()
    return CSRFConfig(
        secret=secret,
        cookie_name=CSRF_COOKIE,
        cookie_path="/console",
        cookie_httponly=True,
        cookie_samesite="strict",
        cookie_secure=not development(settings),
        header_name="x-csrftoken",
    )


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> ConsoleUser | None:
    raw = connection.scope.get("session")
    if not isinstance(raw, dict) or "user" not in raw:
        return None
    try:
        return msgspec.convert(raw["user"], ConsoleUser)
    except msgspec.ValidationError:
        return None


def operator_fingerprint(settings: Settings) -> str:
    """Names the operator key in a session without holding it: a new key ends old sessions."""
    return hmac.new(settings.secret_key.encode(), settings.operator_key.encode(), hashlib.sha256).hexdigest()[:32]


async def signed_in_user(connection: ASGIConnection[Any, Any, Any, Any]) -> ConsoleUser:
    """The session's user while the key it signed in with still holds. A revoked tenant key (or
    a replaced operator key) ends the session at its next request, within the API key cache's
    TTL: the session is deleted and the browser is sent to sign in."""
    user = current_user(connection)
    if user is None:
        raise SignInRequired()
    state = connection.app.state
    if user.operator:
        in_force = hmac.compare_digest(user.key_fingerprint or "", operator_fingerprint(state.settings))
    else:
        in_force = (
            user.key_id is not None
            and user.tenant_uuid is not None
            and await key_in_force(state, uuid.UUID(user.key_id), user.tenant_uuid)
        )
    if not in_force:
        connection.clear_session()
        raise SignInRequired()
    return user


async def require_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for every console page but sign-in: a session, and a tenant to act for."""
    user = await signed_in_user(connection)
    if user.tenant_id is None:
        raise TenantRequired()


async def require_operator(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    user = await signed_in_user(connection)
    if not user.operator:
        # A tenant's session has no tenant list: it does not exist for them.
        raise NotFound("This page does not exist.")
