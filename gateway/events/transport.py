"""The one HTTP client event deliveries go through, and the registration-time URL check.

Built in this one place so the egress guard (gateway/egress.py) can be put under every
delivery by changing this module alone. Redirects are never followed: a 3xx is an answer,
and a failed one, since only a 2xx counts as delivered.
"""

from __future__ import annotations

import httpx

from gateway.errors import FieldError, Unprocessable
from gateway.settings import Settings

USER_AGENT = "Ponte-Webhooks/1"


def delivery_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.event_attempt_timeout_seconds, connect=min(5.0, settings.event_attempt_timeout_seconds)
        ),
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=settings.event_max_in_flight, max_keepalive_connections=settings.event_max_in_flight
        ),
        headers={"user-agent": USER_AGENT},
    )


def check_endpoint_url(url: str, settings: Settings, pointer: str = "/url") -> str:
    """422 unless ``url`` is an absolute http(s) URL (https outside development)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _invalid(pointer, "not a valid URL") from exc
    allowed = ("https",) if settings.events_require_https else ("https", "http")
    if parsed.scheme not in allowed:
        raise _invalid(pointer, "must be an https URL" if settings.events_require_https else "must be http or https")
    if not parsed.host:
        raise _invalid(pointer, "must name a host")
    if parsed.userinfo:
        raise _invalid(pointer, "must not carry credentials; use the signing secret")
    return url


def _invalid(pointer: str, detail: str) -> Unprocessable:
    return Unprocessable(f"The endpoint URL {detail}.", errors=[FieldError(pointer=pointer, detail=detail)])
