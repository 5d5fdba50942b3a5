"""How partner clients report failure, so every job decides retry-or-fail the same way.

A client raises ``TransientPartnerError`` for what may work on a later try (5xx, 429, timeouts,
refused connections) and ``PermanentPartnerError`` with a stable ``code`` for what never will
(bad credentials, permission denied, unknown record). The task runner retries the first with
backoff and records the second as the failure.
"""

from __future__ import annotations

import httpx


class PartnerError(Exception):
    """A partner call failed. ``code`` is stable and safe to show; ``detail`` is for people."""

    code: str = "partner_error"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        if code is not None:
            self.code = code


class TransientPartnerError(PartnerError):
    code = "partner_unavailable"


class PermanentPartnerError(PartnerError):
    code = "partner_rejected"


TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def raise_for_partner(response: httpx.Response, *, partner: str) -> None:
    """Turn a non-2xx answer into the right ``PartnerError``; 2xx passes through."""
    if response.is_success:
        return
    detail = f"{partner} answered {response.status_code} to {response.request.method} {response.request.url.path}"
    if response.status_code in TRANSIENT_STATUSES:
        raise TransientPartnerError(detail, status=response.status_code)
    code = {401: "unauthorized", 403: "permission_denied", 404: "not_found", 409: "conflict"}.get(
        response.status_code, "partner_rejected"
    )
    raise PermanentPartnerError(detail, code=code, status=response.status_code)


def transient_from_transport(exc: httpx.TransportError, *, partner: str) -> TransientPartnerError:
    """Timeouts and connection failures are always worth another try."""
    return TransientPartnerError(f"{partner} unreachable: {type(exc).__name__}")
