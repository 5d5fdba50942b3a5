"""One error tree, mapped to RFC 9457 ``application/problem+json`` in one place.

Services raise ``PonteError`` subclasses; Litestar's own HTTP exceptions (404 route, 405,
413, validation) and anything unexpected are mapped by the same handlers, so every error a
client sees has the same shape: type, title, status, detail, instance and, for invalid
input, ``errors[]`` with a JSON pointer per field.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError

from gateway.observability import CLIENT_CLOSED_REQUEST, client_gone
from gateway.outages import is_outage
from gateway.partners.errors import PartnerError, TransientPartnerError

log = structlog.get_logger("ponte.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct):
    pointer: str
    detail: str
    source: str = "body"


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, as every error response carries them."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class PonteError(Exception):
    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(
        self, detail: str, *, errors: list[FieldError] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}


class BadRequest(PonteError):
    pass


class Unauthorized(PonteError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(PonteError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(PonteError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(PonteError):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadTooLarge(PonteError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(PonteError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class Unprocessable(PonteError):
    status, title, slug = 422, "Unprocessable content", "validation"


class ServiceUnavailable(PonteError):
    status, title, slug = 503, "Service unavailable", "unavailable"


class BadGateway(PonteError):
    status, title, slug = 502, "Bad gateway", "bad-gateway"


def problem_type(slug: str) -> str:
    return f"urn:ponte:problem:{slug}"


def request_instance(request: Request[Any, Any, Any]) -> str:
    request_id = request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex
    return f"urn:ponte:request:{request_id}"


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    title: str,
    slug: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    problem = Problem(
        type=problem_type(slug),
        title=title,
        status=status,
        detail=detail,
        instance=request_instance(request),
        errors=errors,
    )
    body = msgspec.json.encode(problem)
    if extra:  # extension members (RFC 9457 §3.2), e.g. the id of the task already running
        merged = msgspec.json.decode(body)
        merged.update(extra)
        body = msgspec.json.encode(merged)
    return Response(content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def json_pointer(key: str) -> str:
    """``$.items[0].amount`` (msgspec), ``items[0].amount`` or ``items.0`` → ``/items/0/amount``."""
    key = key.removeprefix("data").removeprefix("$")
    return "".join("/" + (name or index) for name, index in _PATH_TOKEN.findall(key))


_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def _validation_errors(exc: ValidationException) -> tuple[int, list[FieldError]]:
    errors: list[FieldError] = []
    body_error = False
    for item in exc.extra if isinstance(exc.extra, list) else []:
        raw_source = item.get("source") or "body"
        source = str(getattr(raw_source, "value", raw_source))
        key, message = str(item.get("key") or ""), str(item.get("message"))
        body_error = body_error or source == "body"
        pointer = json_pointer(key)
        # msgspec names a missing member in its message and points at the object that lacks
        # it; the client needs the member's own pointer (/credentials, not "").
        if missing := _MISSING_FIELD.search(message):
            pointer = f"{pointer}/{missing.group(1)}"
        errors.append(FieldError(pointer=pointer, detail=message, source=source))
    # A body that parses but breaks the schema is 422; bad query/path parameters stay 400.
    return (422 if body_error else 400), errors


TITLES = {
    400: ("Bad request", "bad-request"),
    401: ("Unauthorized", "unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    409: ("Conflict", "conflict"),
    413: ("Payload too large", "payload-too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
    422: ("Unprocessable content", "validation"),
    429: ("Too many requests", "rate-limited"),
    502: ("Bad gateway", "bad-gateway"),
    503: ("Service unavailable", "unavailable"),
}


def handle_ponte_error(request: Request[Any, Any, Any], exc: PonteError) -> Response[bytes]:
    return problem_response(
        request,
        status=exc.status,
        title=exc.title,
        slug=exc.slug,
        detail=exc.detail,
        errors=exc.errors,
        extra=exc.extra,
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, ValidationException):
        status, errors = _validation_errors(exc)
        title, slug = TITLES[status]
        detail = "The request is not valid." if errors else exc.detail
        return problem_response(request, status=status, title=title, slug=slug, detail=detail, errors=errors or None)
    if exc.status_code >= 500:
        return handle_unexpected(request, exc)
    title, slug = TITLES.get(exc.status_code, ("Client error", "client-error"))
    return problem_response(
        request, status=exc.status_code, title=title, slug=slug, detail=exc.detail, headers=exc.headers
    )


def handle_partner_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A partner called during the request failed in a way its caller did not handle: a
    partner that did not answer is 503 (try again), one that answered nonsense is 502."""
    unreachable = isinstance(exc, TransientPartnerError | httpx.TransportError)
    error: PonteError = (
        ServiceUnavailable("A partner did not answer; try again later.")
        if unreachable
        else BadGateway("A partner gave an answer that could not be used.")
    )
    log.warning("partner_error_in_request", path=request.url.path, error=type(exc).__name__, status=error.status)
    return handle_ponte_error(request, error)


def handle_database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[bytes]:
    # SQLSTATE class 22 (data exception: out of range, bad encoding...) comes from a value the
    # client sent that the schema let through; anything else is ours.
    if str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
        return handle_ponte_error(request, BadRequest("A value in the request cannot be stored (out of range)."))
    return handle_unexpected(request, exc)


# How long a client should wait before retrying when PostgreSQL or Valkey is unreachable.
OUTAGE_RETRY_AFTER_SECONDS = 5


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if client_gone(request.scope):
        # Reading the body failed because the client left: nobody to answer, nothing to fix.
        return Response(content=b"", status_code=CLIENT_CLOSED_REQUEST)
    if is_outage(exc):  # a restart or a cut connection: try again soon, nothing to report
        log.warning("backing_service_unavailable", path=request.url.path, error=repr(exc))
        return problem_response(
            request,
            status=503,
            title="Service unavailable",
            slug="unavailable",
            detail=(
                "The database or the queue is unreachable for a moment. "
                "Try again shortly (with the same Idempotency-Key, a retry is safe)."
            ),
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
        )
    # The body says only that it failed and where to look; the stack trace goes to the log.
    instance = request_instance(request)
    log.error("unhandled_exception", instance=instance, path=request.url.path, exc_info=exc)
    return problem_response(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        title="Internal server error",
        slug="internal",
        detail=f"An unexpected error occurred; quote {instance} when reporting it.",
    )


exception_handlers: dict[Any, Any] = {
    PonteError: handle_ponte_error,
    HTTPException: handle_http_exception,
    PartnerError: handle_partner_error,
    httpx.HTTPError: handle_partner_error,
    DBAPIError: handle_database_error,
    Exception: handle_unexpected,
}
