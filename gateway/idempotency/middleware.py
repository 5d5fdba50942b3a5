"""``Idempotency-Key`` on POSTs: a retried request gets the original response, not new work.

Same key and same body → the stored response (``Idempotent-Replayed: true``); same key and
another body → 422; the original still in flight → 409. Keys live ``idempotency_ttl_seconds``
(24 h). A 5xx is not stored, so the client can retry it. If a process dies between the work
and storing its response, the in-flight record is taken over after ``STALE_AFTER``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable
from datetime import timedelta
from typing import Annotated, Any, cast

import msgspec
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from sqlalchemy import delete, or_, update
from sqlalchemy.dialects.postgresql import insert

from gateway.db.base import utcnow
from gateway.errors import Conflict, FieldError, Unprocessable
from gateway.idempotency.models import IdempotencyRecord

HEADER = b"idempotency-key"
# The one definition: validated here and documented on every POST by gateway/contract.py.
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]
STALE_AFTER = timedelta(minutes=5)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class IdempotencyMiddleware:
    """Plain ASGI: every request passes through here, and all but POSTs with the header leave
    after one comparison (no connection object, no exclusion regex)."""

    exclude = [r"^/v1/webhooks/[^/]+$"]  # webhooks deduplicate on webhook-id instead
    _excluded = re.compile("|".join(exclude))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function: a request without the header goes on without a coroutine of its own.
        key = _header(scope, HEADER) if scope.get("method") == "POST" else None
        if key is None or self._excluded.match(scope["path"]):
            return self.app(scope, receive, send)
        return self._idempotent(scope, receive, send, key)

    async def _idempotent(self, scope: Scope, receive: Receive, send: Send, key: str) -> None:
        http = cast(HTTPScope, scope)
        try:
            msgspec.convert(key, IdempotencyKey)
        except msgspec.ValidationError as exc:
            raise Unprocessable(
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
                errors=[FieldError(pointer="/Idempotency-Key", detail=str(exc), source="header")],
            ) from exc
        body, receive = await _buffer_body(receive)
        user = scope.get("user")
        caller = "operator" if getattr(user, "operator", False) else str(getattr(user, "tenant_id", "anonymous"))
        fingerprint = hashlib.sha256(http["method"].encode() + http["path"].encode() + b"\0" + body).hexdigest()
        state = scope["app"].state
        db, ttl = state.db, timedelta(seconds=state.settings.idempotency_ttl_seconds)

        async with db.sessionmaker() as session:
            now = utcnow()
            # Expired records and abandoned in-flight ones give way to the new request.
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope == caller,
                    IdempotencyRecord.key == key,
                    or_(
                        IdempotencyRecord.created_at < now - ttl,
                        IdempotencyRecord.status_code.is_(None) & (IdempotencyRecord.created_at < now - STALE_AFTER),
                    ),
                )
            )
            inserted = (
                await session.execute(
                    insert(IdempotencyRecord)
                    .values(scope=caller, key=key, fingerprint=fingerprint, created_at=now)
                    .on_conflict_do_nothing()
                    .returning(IdempotencyRecord.key)
                )
            ).first()
            existing = None if inserted else await session.get(IdempotencyRecord, (caller, key))
            await session.commit()

        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise Unprocessable(
                    "This Idempotency-Key was used with a different request body.",
                    errors=[FieldError(pointer="/Idempotency-Key", detail="reused with another body", source="header")],
                )
            if existing.status_code is None:
                raise Conflict("The original request with this Idempotency-Key is still being processed.")
            await _replay(send, existing)
            return

        captured: dict[str, Any] = {"body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                headers = dict(message.get("headers") or [])
                captured["content_type"] = headers.get(b"content-type", b"").decode("latin-1") or None
                captured["location"] = headers.get(b"location", b"").decode("latin-1") or None
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            async with db.sessionmaker() as session:
                status = captured.get("status")
                where = (IdempotencyRecord.scope == caller) & (IdempotencyRecord.key == key)
                if status is None or status >= 500:
                    await session.execute(delete(IdempotencyRecord).where(where))
                else:
                    await session.execute(
                        update(IdempotencyRecord)
                        .where(where)
                        .values(
                            status_code=status,
                            content_type=captured["content_type"],
                            location=captured["location"],
                            body=bytes(captured["body"]),
                        )
                    )
                await session.commit()


async def _buffer_body(receive: Receive) -> tuple[bytes, Any]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _replay(send: Send, record: IdempotencyRecord) -> None:
    headers = [(b"idempotent-replayed", b"true")]
    if record.content_type:
        headers.append((b"content-type", record.content_type.encode("latin-1")))
    if record.location:
        headers.append((b"location", record.location.encode("latin-1")))
    body = record.body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    start: Any = {"type": "http.response.start", "status": record.status_code or 200, "headers": headers}
    await send(start)
    end: Any = {"type": "http.response.body", "body": body}
    await send(end)
