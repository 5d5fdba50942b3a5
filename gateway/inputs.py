"""Checks every request passes before a handler runs: JSON bodies, and text PostgreSQL can store.

PostgreSQL text cannot hold NUL, and no UTF-8 encoder takes an unpaired surrogate; left alone
either reaches the driver and becomes a 500. So they are refused here, once, as a 400 problem
pointing at the parameter (or a 422 for the body), whatever route the request is for.
"""

from __future__ import annotations

import re
import weakref
from datetime import datetime
from typing import Annotated, Any, get_args

import msgspec
from litestar import Request, Response
from litestar.routes import HTTPRoute

from gateway.errors import BadRequest, FieldError, Unprocessable, UnsupportedMediaType, json_pointer

# NUL and the UTF-16 surrogate range (what undecodable bytes turn into with surrogateescape).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_BODY_NUL = b"\\u0000"
_BACKSLASHES_LOOKED_AT = 32


def _unstorable_in(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable_in(k) or _unstorable_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable_in(v) for v in value)
    return False


_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
# Per handler, for as long as the handler lives (an id would be reused by a later app's handler).
_DATETIME_QUERY_KEYS: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def _mentions_datetime(annotation: Any) -> bool:
    return annotation is datetime or any(_mentions_datetime(arg) for arg in get_args(annotation))


def _datetime_query_keys(handler: Any) -> frozenset[str]:
    """Query parameters of ``handler`` (and of its dependencies) typed as date-times."""
    keys = _DATETIME_QUERY_KEYS.get(handler)
    if keys is None:
        fields = list(handler.parsed_fn_signature.parameters.values())
        for provider in handler.resolve_dependencies().values():
            fields += provider.parsed_fn_signature.parameters.values()
        keys = _DATETIME_QUERY_KEYS[handler] = frozenset(
            getattr(f.kwarg_definition, "query", None) or f.name for f in fields if _mentions_datetime(f.annotation)
        )
    return keys


def check_parameters(request: Request[Any, Any, Any]) -> None:
    # Litestar would read a number as Unix seconds (and fail with a 500 past year 9999): the
    # spec says RFC 3339, so that is what is accepted.
    # Parsing the query string costs more than the rest of a small request: only when there is one.
    query = list(request.query_params.multi_items()) if request.scope.get("query_string") else []
    datetime_keys = _datetime_query_keys(request.route_handler) if query else frozenset()
    errors = [
        FieldError(pointer=f"/{name}", detail="an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z", source="query")
        for name, value in query
        if name in datetime_keys and _NUMBER.match(value)
    ]
    errors += [
        FieldError(pointer=f"/{name}", detail="contains NUL or an invalid character", source=source)
        for source, values in (("path", request.path_params.items()), ("query", query))
        for name, value in values
        if _unstorable_in(name) or _unstorable_in(value)
    ]
    if errors:
        raise BadRequest("A parameter is not valid.", errors=errors)


_AT_PATH = re.compile(r" - at `\$(.*)`$")


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    return value


def _lenient_accepts(body: bytes, annotation: Any) -> bool:
    try:
        msgspec.json.decode(body, type=annotation, strict=False)
    except (msgspec.DecodeError, ValueError, TypeError):
        return False
    return True


def _check_types_strictly(request: Request[Any, Any, Any], body: bytes) -> None:
    """The body against the handler's ``data`` type, without Litestar's lax coercions (``0`` for
    ``false``, ``"1"`` for ``1``, a number for a date-time), so it is taken exactly as the spec
    describes it. What fails leniently too is left to Litestar, which answers with its own
    pointers; a body that does not parse is Litestar's 400."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return
    try:
        msgspec.json.decode(body, type=data.annotation)
        return
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError:
        return
    try:
        # A typed decode stops at the first wrong type, before it sees malformed JSON further on.
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return
    try:
        # JSON Schema counts 5.0 as an integer and msgspec's strict mode does not.
        msgspec.convert(_integral_floats_as_ints(decoded), data.annotation)
    except msgspec.ValidationError as exc:
        if _lenient_accepts(body, data.annotation):
            message = str(exc)
            match = _AT_PATH.search(message)
            pointer = json_pointer(match.group(1)) if match else ""
            raise Unprocessable(
                "The request is not valid.", errors=[FieldError(pointer=pointer, detail=_AT_PATH.sub("", message))]
            ) from exc


async def _check_body(request: Request[Any, Any, Any]) -> None:
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if not has_body:
        return
    media_type = request.content_type[0]
    if not (media_type == "application/json" or media_type.endswith("+json")):
        raise UnsupportedMediaType(f"Send JSON (Content-Type: application/json), not '{media_type or 'nothing'}'.")
    body = await request.body()
    _check_types_strictly(request, body)
    refuse_unstorable_body(body)


def _mentions_nul(body: bytes) -> bool:
    """Whether ``body`` holds the six bytes ``\\u0000``: the answer of ``_BODY_NUL in body``.

    A six-byte search reads the whole body (16 us on a 29 KB delivery); a backslash is found
    with a memchr, and most bodies have a few (escaped non-ASCII), so it looks at what follows
    each one (1.2 us on that body). A body full of escapes gets the one search after a few."""
    at = body.find(b"\\")
    for _ in range(_BACKSLASHES_LOOKED_AT):
        if at < 0:
            return False
        if body.startswith(b"u0000", at + 1):
            return True
        at = body.find(b"\\", at + 1)
    return at >= 0 and _BODY_NUL in body


def refuse_unstorable_body(body: bytes) -> None:
    """422 for a JSON body holding a NUL (escaped, the only way JSON can carry one)."""
    # Decode only when an escaped NUL may be there (it may follow an escaped "\\").
    if _mentions_nul(body):
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
    """``before_request`` for the API (not the probes): 400/415/422 problems instead of a 500 later."""
    if request.method == "OPTIONS":
        return Response(None, status_code=204, headers={"Allow": _allowed_methods(request)})
    if request.path_params or request.scope.get("query_string"):
        check_parameters(request)
    if request.method in ("POST", "PUT", "PATCH"):
        await _check_body(request)
    return None


_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# A partner address every HTTP client can parse: http(s), an ASCII host name or IP literal, a
# valid port, then printable ASCII. Anything looser reaches httpx and fails there, as a 500.
_H16 = "[0-9A-Fa-f]{1,4}"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LS32 = rf"(?:{_H16}:{_H16}|{_OCTET}(?:\.{_OCTET}){{3}})"
# RFC 3986's IPv6address, written out: a looser bracket is an address no client can parse.
_IPV6 = "|".join(
    [
        rf"(?:{_H16}:){{6}}{_LS32}",
        rf"::(?:{_H16}:){{5}}{_LS32}",
        rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
        *(rf"(?:(?:{_H16}:){{0,{n}}}{_H16})?::(?:{_H16}:){{{4 - n}}}{_LS32}" for n in (1, 2)),
        rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
        rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
        rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
    ]
)
HttpUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=rf"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?)*|\[(?:{_IPV6})\])(?::{_PORT})?(?:[/?#][\x21-\x7e]*)?$",
        max_length=500,
        examples=["https://partner.example/api"],
    ),
]

# A secret sent to a partner in an HTTP header: printable ASCII only, or the client cannot send it.
HeaderToken = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")]
