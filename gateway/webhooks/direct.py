"""The webhook intake served as plain ASGI, ahead of Litestar's routing (see gateway/direct.py).

Partners post far more often than anyone calls the rest of the API, and for one delivery
Litestar's per-request machinery cost more CPU than verifying, validating and storing it.
``DirectIntake`` answers ``POST /v1/webhooks/{endpoint_id}`` itself, with the route's steps in
the route's order: the intake rate limit, the body limit and checks of gateway/inputs.py,
``IntakeWriter.receive``, then the route's own answer; every error goes through the route's
exception handlers, so statuses, problem bodies and headers are the same.

Whatever is not a plain delivery (another content type, no body or a chunked one, a query
string, an id not in canonical form, an invalid Host, a root path) goes to Litestar untouched,
before anything was read or counted. The route stays registered: it documents the operation
in the spec and serves what is passed on.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from typing import Any, cast

import msgspec
from litestar import Litestar, Request
from litestar._asgi.utils import is_valid_host
from litestar.enums import ScopeType
from litestar.exceptions import InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from gateway.direct import DirectRoute
from gateway.inputs import refuse_unstorable_body
from gateway.ratelimit import RateLimit
from gateway.webhooks.routes import accepted, intake_answer, intake_writer, receive_webhook

_PATH = re.compile(r"/v1/webhooks/([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})")
_JSON = b"application/json"
_ENCODE = msgspec.json.Encoder().encode


class DirectIntake(DirectRoute):
    """ASGI app: plain deliveries answered here, every other request passed to ``routed``
    (Litestar's own handler, or another direct route)."""

    def __init__(self, app: Litestar, routed: ASGIApp) -> None:
        super().__init__(app, routed, receive_webhook.fn)
        self.max_body = self.handler.resolve_request_max_body_size() or 0
        self.limit = RateLimit()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function: every other request goes on without a coroutine of this layer.
        match = None
        if scope["type"] == ScopeType.HTTP and scope["method"] == "POST" and not scope["query_string"]:
            match = _PATH.fullmatch(scope["path"])
        headers = self._plain_delivery(scope) if match is not None else None
        if match is None or headers is None:
            return self.routed(scope, receive, send)
        return self._deliver(cast("HTTPScope", scope), receive, send, uuid.UUID(match.group(1)), headers)

    async def _deliver(
        self, http: HTTPScope, receive: Receive, send: Send, endpoint_id: uuid.UUID, headers: dict[str, str]
    ) -> None:
        scope = cast("Scope", http)
        self.routed_as(http, {"endpoint_id": endpoint_id})  # parsed, as the router does
        try:
            if (counting := self.limit.check(http)) is not None:
                await counting
            body = await self._body(receive)
            refuse_unstorable_body(body)
            outcome = await intake_writer(self.app.state).receive(endpoint_id, body, headers)
        except Exception as exc:
            await self.answer_error(scope, receive, send, exc)
            return
        if outcome.intake_status == 422:
            request: Request[Any, Any, Any] = Request(scope, receive)
            answer = intake_answer(request, outcome)
            await answer.to_asgi_response(app=None, request=request)(scope, receive, send)
            return
        status, accepted_body = accepted(outcome)
        await self.answer(send, status, _JSON, _ENCODE(accepted_body))

    def _plain_delivery(self, scope: Scope) -> dict[str, str] | None:
        """The request's headers (first of each name, as Litestar reads them) when it is a plain
        delivery: JSON with a Content-Length within the limit, on the app's own root; else None."""
        if scope.get("root_path"):
            return None
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            if name not in headers:
                headers[name] = raw_value.decode("latin-1")
        length = headers.get("content-length", "")
        if (
            "transfer-encoding" in headers
            or not length.isdigit()
            or not 0 < int(length) <= self.max_body
            or headers.get("content-type", "").split(";", 1)[0].strip() != "application/json"
        ):
            return None
        host = headers.get("host")
        if host is not None and not is_valid_host(host.encode("latin-1")):
            return None
        return headers

    async def _body(self, receive: Receive) -> bytes:
        """The body, read as Litestar's ``Request.body()`` reads it (same limit, same errors)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > self.max_body:
                        raise RequestEntityTooLarge
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
            elif message["type"] == "http.disconnect":
                raise InternalServerException("client disconnected prematurely")
