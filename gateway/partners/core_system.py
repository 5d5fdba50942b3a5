"""Client for the health plan's core system ("o Saúde"), the source of the portal syncs (seed 001).

``base_url`` is the core system's API root, the address the operator configures (the sandbox
serves it at ``{sandbox}/core``). The core system authenticates with a bearer token per
operator. Listings page with an opaque cursor: without ``changed_since`` they hold the live
records by id; with it, every record whose ``updated_at`` is at or after that instant, ordered
by (updated_at, id), removed ones as tombstones ``{"id", "updated_at", "deleted": true}``. The
bound is inclusive, so a caller re-reading an overlap before its watermark sees ties again.

Errors: 401 → ``PermanentPartnerError(code="unauthorized")``, 404 → ``not_found`` (unknown
entity or request), 409 → ``conflict`` (a request id reused with other content), 400/422 →
``partner_rejected``; 5xx, 429, timeouts and refused connections → ``TransientPartnerError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
import msgspec

from gateway.egress import EgressPolicy
from gateway.partners.base import PartnerClient
from gateway.partners.errors import PermanentPartnerError, raise_for_partner, transient_from_transport

PARTNER = "core_system"
T = TypeVar("T")
PAGE_SIZE = 1_000

RequestKind = Literal[
    "card_copy",
    "beneficiary_registration_change",
    "beneficiary_address_change",
    "new_beneficiary",
    "new_family",
    "provider_registration_change",
    "provider_address_change",
]
Situation = Literal["received", "in_analysis", "approved", "rejected"]


class CoreSystemCredentials(msgspec.Struct, frozen=True):
    token: str


class CoreRequestSubmission(msgspec.Struct, frozen=True, kw_only=True):
    """A portal request exported to the core system; ``id`` is the portal's and makes the export idempotent."""

    id: str
    kind: RequestKind
    subject_id: str | None = None  # beneficiary or provider id in the core system, when there is one
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class CoreRequestStatus(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    protocol: str
    kind: RequestKind
    subject_id: str | None
    situation: Situation
    reason: str | None
    received_at: datetime
    updated_at: datetime


class CoreHealth(msgspec.Struct, frozen=True):
    status: str
    operator: str
    now: datetime
    edition: str | None = None  # "MG" systems have syncs the standard edition lacks
    tables_version: int | None = None  # moves when the TISS event and price tables change


class _Page(msgspec.Struct):
    items: list[dict[str, Any]]
    next_cursor: str | None


class _StatusPage(msgspec.Struct):
    items: list[CoreRequestStatus]
    next_cursor: str | None


def isoformat(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("changed_since must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class CoreSystemClient(PartnerClient):
    """One operator's credentials against one core-system address; pass ``http`` to share a pool."""

    def __init__(
        self,
        base_url: str,
        credentials: CoreSystemCredentials,
        *,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        super().__init__(http, egress=egress, timeout=timeout)
        self._base = base_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {credentials.token}"}

    async def ping(self) -> CoreHealth:
        """The "test connection" call: checks the address and the credentials."""
        return _decode(await self._call("GET", "/health"), CoreHealth)

    async def iter_pages(
        self, entity: str, changed_since: datetime | None = None, *, limit: int = PAGE_SIZE
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of raw records (dicts with ``id``, ``updated_at``, ``deleted``), fetched one at a time."""
        params: dict[str, str | int] = {"limit": limit}
        if changed_since is not None:
            params["changed_since"] = isoformat(changed_since)
        while True:
            page = _decode(await self._call("GET", f"/{entity}", params=params), _Page)
            if page.items:
                yield page.items
            if not page.next_cursor:
                return
            params["cursor"] = page.next_cursor

    async def submit_request(self, request: CoreRequestSubmission) -> CoreRequestStatus:
        """Export a portal request. Sending the same id again returns the same protocol."""
        body = await self._call("POST", "/requests", content=msgspec.json.encode(request))
        return _decode(body, CoreRequestStatus)

    async def get_request(self, request_id: str) -> CoreRequestStatus:
        return _decode(await self._call("GET", f"/requests/{request_id}"), CoreRequestStatus)

    async def iter_request_statuses(
        self,
        changed_since: datetime | None = None,
        *,
        kinds: Iterable[RequestKind] = (),
        limit: int = PAGE_SIZE,
    ) -> AsyncIterator[list[CoreRequestStatus]]:
        """Situations of exported requests changed at or after ``changed_since``, by (updated_at, id)."""
        params: dict[str, str | int] = {"limit": limit}
        if changed_since is not None:
            params["changed_since"] = isoformat(changed_since)
        if kind_list := ",".join(kinds):
            params["kind"] = kind_list
        while True:
            page = _decode(await self._call("GET", "/requests", params=params), _StatusPage)
            if page.items:
                yield page.items
            if not page.next_cursor:
                return
            params["cursor"] = page.next_cursor

    async def _call(self, method: str, path: str, **kwargs: Any) -> bytes:
        headers = dict(self._headers)
        if "content" in kwargs:
            headers["content-type"] = "application/json"
        try:
            response = await self._http.request(method, self._base + path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise transient_from_transport(exc, partner=PARTNER) from exc
        raise_for_partner(response, partner=PARTNER)
        return response.content


def _decode(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # A reply we cannot read will not become readable on retry: the address or version is wrong.
        raise PermanentPartnerError(f"{PARTNER} sent an unreadable answer: {exc}", code="invalid_response") from exc
