"""Client for the Polish insurers' REST sources (seed 002).

Both insurer clients (this one and ``insurer_soap.InsurerSoapClient``) expose the same API and
yield the same plain policy dicts, so the importer does not care about the protocol::

    {"policy_number": str | None, "insurer": str, "product": str, "status": str,
     "holder_name": str, "holder_tax_id": str, "holder_tax_id_type": "NIF" | "PESEL" | "NIP",
     "start_date": str, "end_date": str, "premium_cents": int, "currency": "EUR" | "PLN",
     "updated_on": str, "as_of": str (UTC ISO 8601),
     "receipts": [{"receipt_number": str, "due_date": str, "amount_cents": int,
                   "status": "pending" | "paid" | "cancelled" | "returned",
                   "status_changed_on": str}]}

Values are passed on as the insurer sent them: a record may lack its policy number or carry
an impossible date, and validating it is the importer's job (one bad record fails alone).
The client asks for exactly the window it is given; splitting a period into windows of at
most ``Insurer.max_window_days`` is the importer's job, so each window shows in the task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from gateway.egress import EgressPolicy
from gateway.partners.base import PartnerClient
from gateway.partners.errors import PermanentPartnerError, raise_for_partner, transient_from_transport

PolicyRecord = dict[str, Any]


class InsurerRestClient(PartnerClient):
    """One connection to one REST source; ``base_url`` is the source's root, e.g.
    ``https://hub/insurers/rest/warta``. ``options`` (Hestia system/brand/identity, Warta
    product, Skaner2 app) are sent with every request."""

    def __init__(
        self,
        base_url: str,
        insurer: str,
        username: str,
        password: str,
        options: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
        page_size: int = 500,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.insurer = insurer
        self.page_size = page_size
        self._options = dict(options or {})
        super().__init__(
            egress=egress, base_url=base_url.rstrip("/"), auth=httpx.BasicAuth(username, password), timeout=timeout
        )

    async def iter_portfolio(self, period_from: date, period_to: date) -> AsyncIterator[list[PolicyRecord]]:
        """The policies changed in one window, a page at a time (empty pages are skipped)."""
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {
                **self._options,
                "from": period_from.isoformat(),
                "to": period_to.isoformat(),
                "limit": self.page_size,
            }
            if cursor:
                params["cursor"] = cursor
            page = await self._get("/policies", params)
            if page["items"]:
                yield page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def get_policy(self, number: str) -> PolicyRecord:
        """Today's state of one policy; ``PermanentPartnerError(code="not_found")`` if unknown."""
        record: PolicyRecord = await self._get(f"/policies/{quote(number, safe='')}", dict(self._options))
        return record

    async def ping(self) -> dict[str, Any]:
        """Checks reachability and credentials (the "test connection" call)."""
        reply: dict[str, Any] = await self._get("/ping", {})
        return reply

    async def _get(self, path: str, params: Mapping[str, str | int]) -> Any:
        try:
            response = await self._http.get(path, params=params)
        except httpx.TransportError as exc:
            raise transient_from_transport(exc, partner=self.insurer) from exc
        if response.status_code in (400, 403):
            # The source names the problem (window_too_long, identity_mismatch, ...): keep it.
            code = _error_code(response)
            if code:
                detail = f"{self.insurer} refused {path}: {code}"
                raise PermanentPartnerError(detail, code=code, status=response.status_code)
        raise_for_partner(response, partner=self.insurer)
        # msgspec decodes a 1,000-policy page (~750 kB) in a quarter of json's time; a body
        # that is not JSON still raises ValueError (msgspec.DecodeError is one).
        return msgspec.json.decode(response.content)


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
