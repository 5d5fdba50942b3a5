"""Checks every request passes before a handler runs: JSON bodies, and text PostgreSQL can store.

PostgreSQL text cannot hold NUL, and no UTF-8 encoder takes an unpaired surrogate; left alone
either reaches the driver and becomes a 500. So they are refused here, once, as a 400 problem
pointing at the parameter (or a 422 for the body), whatever route the request is for.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.routes import HTTPRoute

from gateway.errors import BadRequest, FieldError, Unprocessable, UnsupportedMediaType

# NUL and the UTF-16 surrogate range (what undecodable bytes turn into with surrogateescape).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_BODY_NUL = b"\\u0000"


def _unstorable_in(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable_in(k) or _unstorable_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable_in(v) for v in value)
    return False


def _check_parameters(request: Request[Any, Any, Any]) -> None:
    # Parsing the query string costs more than the rest of a small request: only when there is one.
    query = request.query_params.multi_items() if request.scope.get("query_string") else []
    errors = [
        FieldError(pointer=f"/{name}", detail="contains NUL or an invalid character", source=source)
        for source, values in (("path", request.path_params.items()), ("query", query))
        for name, value in values
        if _unstorable_in(name) or _unstorable_in(value)
    ]
    if errors:
        raise BadRequest("A parameter contains a character that cannot be stored (NUL or invalid).", errors=errors)


async def _check_body(request: Request[Any, Any, Any]) -> None:
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if not has_body:
        return
    media_type = request.content_type[0]
    if not (media_type == "application/json" or media_type.endswith("+json")):
        raise UnsupportedMediaType(f"Send JSON (Content-Type: application/json), not '{media_type or 'nothing'}'.")
    body = await request.body()
    # Cheap scan first; decode only when an escaped NUL may be there (it may be an escaped "\\").
    if _BODY_NUL in body:
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return  # the handler's own parsing answers 400
        if _unstorable_in(decoded):
            raise Unprocessable(
                "The body contains a NUL character, which cannot be stored.",
                errors=[FieldError(pointer="", detail="NUL characters are not allowed")],
            )


def _allowed_methods(request: Request[Any, Any, Any]) -> str:
    # Litestar's generated OPTIONS handler lists the methods of the first handler registered on a
    # path only (a controller's GET and POST on "/" come in two registrations): ask the route.
    app = request.app
    cache: dict[int, str] | None = getattr(app.state, "_allow_by_handler", None)
    if cache is None:
        cache = {
            id(handler): ", ".join(sorted(route.methods))
            for route in app.routes
            if isinstance(route, HTTPRoute)
            for handler, _ in route.route_handler_map.values()
        }
        app.state._allow_by_handler = cache
    return cache.get(id(request.route_handler), "OPTIONS")


async def check_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    """``before_request`` for the whole app: 400/415/422 problems instead of a 500 later."""
    if request.method == "OPTIONS":
        return Response(None, status_code=204, headers={"Allow": _allowed_methods(request)})
    if request.path_params or request.scope.get("query_string"):
        _check_parameters(request)
    if request.method in ("POST", "PUT", "PATCH"):
        await _check_body(request)
    return None
