"""REST sources of the Polish insurers (seed 002), one base path per source.

    GET /insurers/rest/{source}/policies?from=&to=&cursor=&limit=&<options>
        -> {"items": [policy...], "next_cursor": str | null, "as_of": str}
    GET /insurers/rest/{source}/policies/{number}?<options>   -> policy (today's state)
    GET /insurers/rest/{source}/ping                          -> {"status": "ok", ...}

HTTP Basic auth (401 otherwise). A window longer than 16 days is refused with 400, as the
real sources do. Source options travel as query parameters (``system``, ``brand``,
``identity`` for Ergo Hestia; ``app`` for Skaner2; ``product`` for Warta). Errors are
``{"error": code, "detail": text}``; Hestia answers 403 ``identity_mismatch`` when the
session identity does not match the requested brand (MTU/YCD vs iHestia).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec
from litestar import Request, Response, Router, get

from sandbox.insurers import service
from sandbox.insurers.catalogue import SOURCES, OptionError, Source, check_options

JSON = "application/json"
Req = Request[Any, Any, Any]


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(payload), status_code=status, media_type=JSON, headers=headers)


def _error(exc: service.RequestError) -> Response[bytes]:
    headers = {"www-authenticate": 'Basic realm="insurer"'} if exc.status == 401 else None
    return _json({"error": exc.code, "detail": exc.detail}, exc.status, headers)


def _account(request: Req) -> str:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    username = password = None
    if scheme.lower() == "basic":
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = None
    service.authenticate(username, password)
    assert username is not None  # authenticate refuses a missing username
    return username


def _source(name: str) -> Source:
    source = SOURCES.get(name)
    if source is None or source.protocol != "rest":
        raise service.RequestError("not_found", f"unknown source {name}", 404)
    return source


def _options(source: Source, request: Req) -> dict[str, str]:
    try:
        return check_options(source, {k: v for k, v in request.query_params.items() if isinstance(v, str)})
    except OptionError as exc:
        raise service.RequestError(exc.code, exc.detail, 403 if exc.code == "identity_mismatch" else 400) from None


@get("/{source_name:str}/policies", sync_to_thread=False)
def list_policies(source_name: str, request: Req) -> Response[bytes]:
    try:
        source = _source(source_name)
        account = _account(request)
        book = service.portfolio(source, account, _options(source, request))
        params = request.query_params
        win = service.window(source, params.get("from"), params.get("to"))
        limit = params.get("limit") or "500"
        if not limit.isdigit():
            raise service.RequestError("invalid_request", "limit must be a positive integer")
        items, cursor = service.page(book, win, params.get("cursor"), int(limit))
    except service.RequestError as exc:
        return _error(exc)
    return _json({"items": items, "next_cursor": cursor, "as_of": win.as_of})


@get("/{source_name:str}/policies/{number:str}", sync_to_thread=False)
def get_policy(source_name: str, number: str, request: Req) -> Response[bytes]:
    try:
        source = _source(source_name)
        account = _account(request)
        return _json(service.one_policy(service.portfolio(source, account, _options(source, request)), number))
    except service.RequestError as exc:
        return _error(exc)


@get("/{source_name:str}/ping", sync_to_thread=False)
def ping(source_name: str, request: Req) -> Response[bytes]:
    try:
        _source(source_name)
        _account(request)
    except service.RequestError as exc:
        return _error(exc)
    return _json({"status": "ok", "source": source_name, "server_time": service.now_iso()})


rest_router = Router(path="/rest", route_handlers=[list_policies, get_policy, ping])
