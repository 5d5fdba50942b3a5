"""``GET /v1/tasks/{task_id}`` served as plain ASGI, ahead of Litestar's routing (see gateway/direct.py).

It is what clients poll while a task runs, the API's hottest read, and Litestar's routing,
middleware layers, signature model and response object cost about as much CPU as the read
itself. ``DirectTaskRead`` answers it with the route's steps in the route's order: the key
(gateway/tenants/auth.py), the reads budget (gateway/ratelimit.py), the handler's tenant check
and ``TaskReader``, then the task encoded as the route encodes it; every error goes through
the route's exception handlers, so statuses, problem bodies and headers are the same.

Whatever is not a plain read (another method, HEAD and OPTIONS included, a query string, an id
not in canonical form, an invalid Host, a root path) goes on untouched, before anything was
looked up or counted.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from typing import cast

from litestar import Litestar
from litestar._asgi.utils import is_valid_host
from litestar.enums import ScopeType
from litestar.serialization import encode_json, get_serializer
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send
from litestar.utils.helpers import get_enum_string_value

from gateway.direct import DirectRoute
from gateway.ratelimit import RateLimit
from gateway.tasks.routes import TaskController, task_reader
from gateway.tasks.schemas import Task
from gateway.tenants.auth import authenticate, tenant_of

_PATH = re.compile(r"/v1/tasks/([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})")
_PREFIX = "/v1/tasks/"
_HOST = b"host"


class DirectTaskRead(DirectRoute):
    """ASGI app: plain reads of one task answered here, every other request passed to ``routed``."""

    def __init__(self, app: Litestar, routed: ASGIApp) -> None:
        super().__init__(app, routed, TaskController.get_task.fn)
        handler = self.handler
        self.serializer = get_serializer(handler.resolve_type_encoders())
        self.media_type = get_enum_string_value(handler.media_type).encode("latin-1")
        self.status = handler.status_code
        self.limit = RateLimit()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function: every other request goes on without a coroutine of this layer.
        match = None
        if (
            scope["type"] == ScopeType.HTTP
            and scope["method"] == "GET"
            and scope["path"].startswith(_PREFIX)
            and not scope["query_string"]
            and not scope.get("root_path")
        ):
            match = _PATH.fullmatch(scope["path"])
        if match is None or not _valid_host(scope):
            return self.routed(scope, receive, send)
        return self._read(cast("HTTPScope", scope), receive, send, uuid.UUID(match.group(1)))

    async def _read(self, http: HTTPScope, receive: Receive, send: Send, task_id: uuid.UUID) -> None:
        scope = cast("Scope", http)
        self.routed_as(http, {"task_id": task_id})  # parsed, as the router does
        try:
            # The middleware stack's order: authentication, then the tenant's reads budget.
            http["user"] = principal = await authenticate(scope)
            http["auth"] = None
            if (counting := self.limit.check(http)) is not None:
                await counting
            # Then the handler, TaskController.get_task.
            row = await task_reader(self.app.state).get(tenant_of(principal), task_id)
            content = encode_json(Task.from_model(row), self.serializer)
        except Exception as exc:
            await self.answer_error(scope, receive, send, exc)
            return
        await self.answer(send, self.status, self.media_type, content)


def _valid_host(scope: Scope) -> bool:
    """Whether the first Host header (if any) is one Litestar's router accepts; it answers 400 otherwise."""
    for name, value in scope["headers"]:
        if name == _HOST:
            return is_valid_host(value)
    return True
