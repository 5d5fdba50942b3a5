"""Client for the Portuguese insurers' SOAP portfolio services (seed 000), through zeep.

zeep loads a WSDL synchronously (python-zeep#1409), so each WSDL is fetched once through the
guarded async client (gateway/egress.py), parsed in a thread with every further load refused
(imports, ``file://``), and cached per URL for the life of the process; calls then go through
``zeep.AsyncClient`` on the same guarded httpx client. Records are normalised to the shape documented in
``gateway.partners.insurer_rest`` (snake_case keys, receipts under ``receipts``).
"""

from __future__ import annotations

import asyncio
import io
import operator
import threading
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any

import httpx
import zeep
import zeep.helpers
import zeep.proxy
import zeep.transports
import zeep.wsdl
import zeep.wsse.username
from zeep.exceptions import Fault, TransportError, XMLSyntaxError

from gateway.egress import EgressPolicy, EgressRefused, RefuseAllTransport
from gateway.partners.base import PartnerClient
from gateway.partners.errors import (
    TRANSIENT_STATUSES,
    PartnerError,
    PermanentPartnerError,
    TransientPartnerError,
    transient_from_transport,
)
from gateway.partners.insurer_rest import PolicyRecord
from gateway.partners.soap_reader import ReplyReader

# zeep is only partly annotated: name its entry points once as ``Any`` for mypy --strict.
AsyncClient: Any = zeep.AsyncClient
AsyncServiceProxy: Any = zeep.proxy.AsyncServiceProxy
AsyncTransport: Any = zeep.transports.AsyncTransport
Document: Any = zeep.wsdl.Document
Transport: Any = zeep.transports.Transport
UsernameToken: Any = zeep.wsse.username.UsernameToken
serialize_object: Any = zeep.helpers.serialize_object

# Operations whose large replies are read with lxml against the WSDL's types: zeep's object
# mapping of a portfolio page was most of the import's time (see ``soap_reader``).
LXML_READ = frozenset({"GetPortfolio"})
RAW_REPLIES = zeep.Settings(raw_response=True)
_READERS: dict[tuple[int, str], ReplyReader] = {}
_WSDLS: dict[str, Any] = {}
_WSDL_LOCK = threading.Lock()
# zeep's AsyncTransport wants a sync client for WSDL loading; ours are preloaded, so one client
# that refuses to send serves every transport (nothing leaves Ponte around the egress guard).
_IDLE_WSDL_CLIENT = httpx.Client(transport=RefuseAllTransport())

POLICY_KEYS = {
    "policyNumber": "policy_number",
    "product": "product",
    "status": "status",
    "holderName": "holder_name",
    "holderTaxId": "holder_tax_id",
    "holderTaxIdType": "holder_tax_id_type",
    "startDate": "start_date",
    "endDate": "end_date",
    "premiumCents": "premium_cents",
    "currency": "currency",
    "updatedOn": "updated_on",
    "asOf": "as_of",
}
RECEIPT_KEYS = {
    "receiptNumber": "receipt_number",
    "dueDate": "due_date",
    "amountCents": "amount_cents",
    "status": "status",
    "statusChangedOn": "status_changed_on",
}
# SOAP 1.1 fault codes the insurers use, mapped to Ponte's stable partner error codes.
FAULT_CODES = {"NotFound": "not_found", "WindowTooLong": "window_too_long", "InvalidRequest": "invalid_request"}


class _NoFurtherLoads(Transport):  # type: ignore[misc]
    """zeep's loader for a WSDL already fetched: anything it would load next is refused."""

    def load(self, url: str) -> bytes:
        raise EgressRefused(f"the WSDL refers to {url}, which is not fetched")


def _parse_wsdl(url: str, content: bytes) -> Any:
    with _WSDL_LOCK:
        if url not in _WSDLS:
            settings = zeep.Settings(forbid_external=True)
            _WSDLS[url] = Document(io.BytesIO(content), _NoFurtherLoads(), base=url, settings=settings)
        return _WSDLS[url]


async def load_wsdl(url: str, http: httpx.AsyncClient, *, partner: str) -> Any:
    """The parsed WSDL at ``url``, fetched through ``http`` (a guarded client) and parsed off the
    event loop on first use, then cached."""
    cached = _WSDLS.get(url)
    if cached is not None:
        return cached
    try:
        response = await http.get(url)
    except httpx.TransportError as exc:
        raise TransientPartnerError(f"{partner} WSDL unreachable: {type(exc).__name__}") from exc
    if not response.is_success:
        raise _status_error(response.status_code, partner)
    try:
        return await asyncio.to_thread(_parse_wsdl, url, response.content)
    except XMLSyntaxError as exc:
        raise PermanentPartnerError(f"{partner} sent an invalid WSDL", code="invalid_response") from exc


class InsurerSoapClient(PartnerClient):
    """One connection to one SOAP insurer; ``base_url`` is the service endpoint (its WSDL is
    ``base_url?wsdl``). Calls carry a WS-Security UsernameToken with the credentials."""

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
        self.base_url = base_url.rstrip("/")
        self.insurer = insurer
        self.page_size = page_size
        self.timeout = timeout
        self._options = dict(options or {})  # none of the Portuguese services takes options today
        self._token = UsernameToken(username, password)
        super().__init__(egress=egress, timeout=timeout)
        self._service: Any = None
        self._zeep: Any = None
        self._binding: Any = None

    async def iter_portfolio(self, period_from: date, period_to: date) -> AsyncIterator[list[PolicyRecord]]:
        """The policies changed in one window, a page at a time (empty pages are skipped)."""
        token: str | None = None
        while True:
            reply = await self._call(
                "GetPortfolio",
                periodFrom=period_from.isoformat(),
                periodTo=period_to.isoformat(),
                pageToken=token,
                pageSize=self.page_size,
            )
            records = [_policy(p, self.insurer) for p in reply.get("policy") or []]
            if records:
                yield records
            token = reply.get("nextPageToken")
            if not token:
                return

    async def get_policy(self, number: str) -> PolicyRecord:
        """Today's state of one policy; ``PermanentPartnerError(code="not_found")`` if unknown."""
        reply = await self._call("GetPolicy", policyNumber=number)
        return _policy(reply, self.insurer)

    async def ping(self) -> dict[str, Any]:
        """Checks reachability and credentials (the "test connection" call)."""
        reply = await self._call("Ping")
        return {"status": reply.get("status"), "server_time": reply.get("serverTime")}

    async def _bound_service(self) -> Any:
        if self._service is None:
            document = await load_wsdl(f"{self.base_url}?wsdl", self._http, partner=self.insurer)
            transport = AsyncTransport(client=self._http, wsdl_client=_IDLE_WSDL_CLIENT)
            # Raw replies: ``_call`` reads them, the portfolio with lxml (``soap_reader``) and
            # every other reply through zeep's own ``process_reply``.
            self._zeep = AsyncClient(document, wsse=self._token, transport=transport, settings=RAW_REPLIES)
            # Bind to the configured endpoint, not the WSDL's address, so a proxy or a moved
            # service keeps working with the same cached WSDL.
            # (AsyncClient.create_service would build a sync proxy, hence the explicit class.)
            self._binding = next(iter(document.bindings.values()))
            self._service = AsyncServiceProxy(self._zeep, self._binding, address=self.base_url)
        return self._service

    def _reader(self, operation: str) -> ReplyReader | None:
        if operation not in LXML_READ:
            return None
        key = (id(self._binding), operation)  # WSDL documents are cached for the process's life
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = ReplyReader(self._binding, operation)
        return reader

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        service = await self._bound_service()
        try:
            response = await getattr(service, operation)(**kwargs)
            reader = self._reader(operation)
            if reader is not None and reader.handles(response):
                return reader.read(self._zeep, response)
            reply = self._binding.process_reply(self._zeep, self._binding.get(operation), response)
        except Fault as exc:
            raise _fault_error(exc, self.insurer, operation) from exc
        except TransportError as exc:
            raise _transport_error(exc, self.insurer) from exc
        except httpx.TransportError as exc:
            raise transient_from_transport(exc, partner=self.insurer) from exc
        except XMLSyntaxError as exc:
            raise PermanentPartnerError(f"{self.insurer} sent invalid XML", code="invalid_response") from exc
        result = serialize_object(reply, dict)
        if isinstance(result, dict) and set(result) == {"policy"} and operation == "GetPolicy":
            result = result["policy"]
        return result if isinstance(result, dict) else {}


class _Renamer:
    """Picks a reply's fields in one C call and renames them (a dict comprehension of ``get``
    calls took twice as long, for every policy and receipt of a page)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names, self.keys = tuple(names), tuple(names.values())
        self.pick = operator.itemgetter(*self.names)

    def __call__(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        try:
            values = self.pick(raw)
        except KeyError:  # zeep and the reader give every declared field; anything else, None
            values = tuple(raw.get(name) for name in self.names)
        return dict(zip(self.keys, values, strict=True))


_policy_fields = _Renamer(POLICY_KEYS)
_receipt_fields = _Renamer(RECEIPT_KEYS)


def _policy(raw: Mapping[str, Any], insurer: str) -> PolicyRecord:
    record: PolicyRecord = _policy_fields(raw)
    record["insurer"] = insurer
    record["receipts"] = [_receipt_fields(r) for r in raw.get("receipt") or []]
    return record


def _fault_error(fault: Fault, partner: str, operation: str) -> PartnerError:
    code = str(fault.code or "")
    detail = f"{partner} {operation} fault {code}: {fault.message}"
    local = code.rpartition(":")[2]
    if local in ("FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken", "FailedCheck"):
        return PermanentPartnerError(detail, code="unauthorized")
    if local.startswith("Server"):
        return TransientPartnerError(detail)
    return PermanentPartnerError(detail, code=FAULT_CODES.get(local.partition(".")[2], "partner_rejected"))


def _transport_error(exc: TransportError, partner: str) -> PartnerError:
    return _status_error(exc.status_code or None, partner)


def _status_error(status: int | None, partner: str) -> PartnerError:
    detail = f"{partner} answered HTTP {status}"
    if status is None or status in TRANSIENT_STATUSES or status >= 500:
        return TransientPartnerError(detail, status=status)
    code = {401: "unauthorized", 403: "permission_denied", 404: "not_found"}.get(status, "partner_rejected")
    return PermanentPartnerError(detail, code=code, status=status)
