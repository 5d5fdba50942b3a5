"""Routes answered as plain ASGI, ahead of Litestar's routing, for the hottest requests.

For a cheap request Litestar's per-request machinery (routing among a hundred operations,
three middleware layers, a ``Request`` with parsed headers, the ``before_request`` checks, the
kwargs and signature models, a ``Response``) costs more CPU than the work itself. A direct
route answers one operation itself, with the route's own steps in the route's order, and
sends every error through the route's exception handlers, so statuses, problem bodies and
headers are the same as Litestar's. It sits inside ``observe_requests``, which gives it
request ids, the log line and the metrics sample like any other request.

Whatever is not the plain case a direct route knows goes to Litestar untouched, before
anything was read or counted. The route stays registered: it documents the operation in the
spec and serves what is passed on. Subclasses: ``gateway/webhooks/direct.py`` (the intake)
and ``gateway/tasks/direct.py`` (one task by id).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.middleware._internal.exceptions.middleware import ExceptionHandlerMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState


class DirectRoute:
    """The parts every direct route shares: the route it stands in for, what Litestar's router
    would have put in the scope, and Litestar's handling of an error raised in the route."""

    def __init__(self, app: Litestar, routed: ASGIApp, fn: Any) -> None:
        """``routed`` serves every request this one passes on; ``fn`` is the route handler's
        function (``handler.fn``) whose operation this answers."""
        self.app = app
        self.routed = routed
        route, handler = next(
            (route, handler)
            for route in app.routes
            if isinstance(route, HTTPRoute)
            for handler, _ in route.route_handler_map.values()
            if getattr(handler.fn, "__func__", handler.fn) is fn  # a controller's method is bound
        )
        self.handler: HTTPRouteHandler = handler
        self.path_template = route.path_format
        self.exception_handlers = handler.resolve_exception_handlers()
        self.errors = ExceptionHandlerMiddleware(routed, None)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Answer the plain case, or pass the request to ``routed`` untouched."""
        raise NotImplementedError

    def routed_as(self, scope: HTTPScope, path_params: dict[str, Any]) -> None:
        """What Litestar's router would have set: the metrics label, the handler for the errors."""
        scope["route_handler"] = self.handler
        scope["path_params"] = path_params
        scope["path_template"] = self.path_template

    @staticmethod
    async def answer(send: Send, status: int, media_type: bytes, content: bytes) -> None:
        """Send a whole response: its status, content type and length, then its body."""
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", media_type), (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def answer_error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """What Litestar's ``ExceptionHandlerMiddleware`` does with an error raised in the route."""
        app = self.app
        if app.logging_config and (logger := app.logger):
            self.errors.handle_exception_logging(logger=logger, logging_config=app.logging_config, scope=scope)
        for hook in app.after_exception:
            await hook(exc, scope)
        ScopeState.from_scope(scope).exception_handlers = self.exception_handlers
        await self.errors.handle_request_exception(litestar_app=app, scope=scope, receive=receive, send=send, exc=exc)


def in_front(routed: ASGIApp, routes: dict[tuple[str, str], DirectRoute]) -> ASGIApp:
    """``routed`` with direct routes in front, keyed by the method and path prefix each answers.

    One plain function: a request no direct route could answer (``GET /ping``, anything not
    under a claimed prefix) goes straight to ``routed``, for a dict lookup and a prefix test,
    not a layer per route. A claimed one goes to its route, which checks the rest itself and
    passes what it does not know to ``routed``.
    """
    by_method = {method: (prefix, route) for (method, prefix), route in routes.items()}
    if len(by_method) != len(routes):
        raise ValueError("one direct route per method")

    def direct(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        claimed: tuple[str, DirectRoute] | None = by_method.get(scope.get("method", ""))  # type: ignore[call-overload]
        if claimed is not None and scope["path"].startswith(claimed[0]):
            return claimed[1](scope, receive, send)
        return routed(scope, receive, send)  # type: ignore[no-any-return]

    direct.routes = dict(routes)  # type: ignore[attr-defined]  # for tests
    direct.routed = routed  # type: ignore[attr-defined]
    return direct
