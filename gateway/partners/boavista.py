"""Client for Boavista, the card-reconciliation integrator (seed 004).

Boavista authenticates with one API token per establishment, lists the sales the acquirers
registered, takes remittances of the ERP's sales and answers each with a protocol; the
reconciliation result comes back later as a signed ``remittance.returned`` webhook.

Errors: Boavista names each 4xx in ``extra.error`` and that name becomes the
``PermanentPartnerError.code``: ``unauthorized`` (401), ``establishment_not_found`` (404),
``remittance_not_found`` (404), ``remittance_conflict`` (409, an id reused with other items),
``invalid_request`` (400). Other 4xx fall back to ``raise_for_partner``'s codes; 5xx, 429,
timeouts and connection failures raise ``TransientPartnerError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx

from gateway.egress import EgressPolicy
from gateway.partners.base import PartnerClient
from gateway.partners.errors import PermanentPartnerError, raise_for_partner, transient_from_transport

PARTNER = "boavista"
SALES_PAGE_SIZE = 1_000
ERROR_CODES = frozenset(
    {"unauthorized", "establishment_not_found", "remittance_not_found", "remittance_conflict", "invalid_request"}
)


class BoavistaClient(PartnerClient):
    """One establishment token against one Boavista base URL; pass ``client`` to share a connection pool."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        super().__init__(client, egress=egress, timeout=timeout)
        self._base = base_url.rstrip("/") + "/boavista"
        self._headers = {"authorization": f"Bearer {token}"}

    async def ping(self, code: str) -> dict[str, Any]:
        """Check the token and the establishment code: the "test connection" call."""
        return await self._call("GET", f"/establishments/{code}")

    async def iter_sales(
        self, code: str, day_from: date, day_to: date, *, page_size: int = SALES_PAGE_SIZE
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Acquirer sales of local days ``day_from``..``day_to`` (inclusive), one page at a time.

        Records are keyed by ``acquirer_sale_id``; NSU and authorization code repeat across
        terminals and days, and the NSU can change when the acquirer reprocesses a sale.
        """
        params: dict[str, str | int] = {"from": day_from.isoformat(), "to": day_to.isoformat(), "limit": page_size}
        while True:
            page = await self._call("GET", f"/establishments/{code}/sales", params=params)
            if page["items"]:
                yield page["items"]
            if not page["next_cursor"]:
                return
            params["cursor"] = page["next_cursor"]

    async def send_remittance(self, code: str, remittance_id: str, items: list[dict[str, Any]]) -> str:
        """Send the ERP sales to reconcile; returns Boavista's protocol. Safe to repeat with the same id."""
        body = {"remittance_id": remittance_id, "items": items}
        receipt = await self._call("POST", f"/establishments/{code}/remittances", json=body)
        return str(receipt["protocol"])

    async def get_remittance(self, code: str, remittance_id: str) -> dict[str, Any]:
        """Receipt and, once returned, the result items (fallback when a return webhook is missing)."""
        return await self._call("GET", f"/establishments/{code}/remittances/{remittance_id}")

    async def configure_webhook(self, code: str, url: str, secret: str) -> None:
        """Point the establishment's ``remittance.returned`` webhooks at ``url``, signed with ``secret``."""
        await self._call("PUT", f"/establishments/{code}/webhook", json={"url": url, "secret": secret})

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, self._base + path, headers=self._headers, **kwargs)
        except httpx.TransportError as exc:
            raise transient_from_transport(exc, partner=PARTNER) from exc
        code = _error_code(response)
        if code is not None:
            detail = f"{PARTNER} answered {response.status_code} to {method} {path}"
            raise PermanentPartnerError(detail, code=code, status=response.status_code)
        raise_for_partner(response, partner=PARTNER)
        payload: dict[str, Any] = response.json()
        return payload


def _error_code(response: httpx.Response) -> str | None:
    """Boavista's own error code for a 4xx it explains (``extra.error``), else None."""
    if response.is_success or response.status_code >= 500 or response.status_code == 429:
        return None
    try:
        extra = response.json().get("extra") or {}
    except ValueError:
        return None
    code = extra.get("error") if isinstance(extra, dict) else None
    return code if code in ERROR_CODES else None
