"""SOAP 1.1 portfolio service of the Portuguese insurers, one endpoint per insurer.

    GET  /insurers/soap/{insurer}?wsdl   the WSDL (service bound at this same URL)
    POST /insurers/soap/{insurer}        GetPortfolio / GetPolicy / Ping

Every call carries WS-Security ``wsse:UsernameToken`` (PasswordText); a missing or wrong token
is a ``wsse:FailedAuthentication`` fault. Refusals are faults with ``soap:Client.<Code>``
(``InvalidRequest``, ``WindowTooLong``, ``NotFound``). The XML is written by hand.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from litestar import Request, Response, Router, get, post
from lxml import etree

from sandbox.insurers import service
from sandbox.insurers.catalogue import SOURCES, Source
from sandbox.insurers.wsdl import NS, wsdl

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XML = "text/xml; charset=utf-8"
FAULT_NAMES = {"invalid_request": "InvalidRequest", "window_too_long": "WindowTooLong", "not_found": "NotFound"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)

POLICY_XML = (
    ("policy_number", "policyNumber"),
    ("product", "product"),
    ("status", "status"),
    ("holder_name", "holderName"),
    ("holder_tax_id", "holderTaxId"),
    ("holder_tax_id_type", "holderTaxIdType"),
    ("start_date", "startDate"),
    ("end_date", "endDate"),
    ("premium_cents", "premiumCents"),
    ("currency", "currency"),
    ("updated_on", "updatedOn"),
    ("as_of", "asOf"),
)
RECEIPT_XML = (
    ("receipt_number", "receiptNumber"),
    ("due_date", "dueDate"),
    ("amount_cents", "amountCents"),
    ("status", "status"),
    ("status_changed_on", "statusChangedOn"),
)


def _envelope(body: str, status: int = 200) -> Response[bytes]:
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}">'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    )
    return Response(xml.encode(), status_code=status, media_type=XML)


def _fault(code: str, message: str) -> Response[bytes]:
    return _envelope(
        f'<soap:Fault xmlns:wsse="{WSSE}"><faultcode>{code}</faultcode>'
        f"<faultstring>{escape(message)}</faultstring></soap:Fault>",
        500,
    )


def _fields(record: dict[str, Any], names: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"<{tag}>{escape(str(record[key]))}</{tag}>" for key, tag in names if record.get(key) is not None)


def _policy_xml(tag: str, record: dict[str, Any]) -> str:
    receipts = "".join(f"<receipt>{_fields(r, RECEIPT_XML)}</receipt>" for r in record["receipts"])
    return f"<{tag}>{_fields(record, POLICY_XML)}{receipts}</{tag}>"


def _text(parent: etree._Element, name: str, ns: str = NS) -> str | None:
    found = parent.find(f"{{{ns}}}{name}")
    return None if found is None or found.text is None else found.text.strip()


def _account(envelope: etree._Element) -> str:
    token = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    username = None if token is None else _text(token, "Username", WSSE)
    password = None if token is None else _text(token, "Password", WSSE)
    service.authenticate(username, password)
    assert username is not None  # authenticate refuses a missing username
    return username


def _call(source: Source, operation: etree._Element, account: str) -> str:
    name = etree.QName(operation).localname
    if name == "Ping":
        now = service.now_iso()
        return f"<PingResponse xmlns='{NS}'><status>ok</status><serverTime>{now}</serverTime></PingResponse>"
    book = service.portfolio(source, account, {})
    if name == "GetPolicy":
        record = service.one_policy(book, _text(operation, "policyNumber") or "")
        return f"<GetPolicyResponse xmlns='{NS}'>{_policy_xml('policy', record)}</GetPolicyResponse>"
    if name == "GetPortfolio":
        win = service.window(source, _text(operation, "periodFrom"), _text(operation, "periodTo"))
        size = _text(operation, "pageSize")
        records, token = service.page(book, win, _text(operation, "pageToken"), int(size) if size else 500)
        policies = "".join(_policy_xml("policy", r) for r in records)
        more = "" if token is None else f"<nextPageToken>{token}</nextPageToken>"
        return f"<GetPortfolioResponse xmlns='{NS}'>{policies}{more}<asOf>{win.as_of}</asOf></GetPortfolioResponse>"
    raise service.RequestError("invalid_request", f"unknown operation {name}")


@get("/{insurer:str}", sync_to_thread=False)
def get_wsdl(insurer: str, request: Request[Any, Any, Any]) -> Response[bytes]:
    if insurer not in SOURCES or SOURCES[insurer].protocol != "soap":
        return Response(b"unknown insurer", status_code=404, media_type="text/plain")
    location = str(request.url).split("?", 1)[0]
    return Response(wsdl(location).encode(), media_type=XML)


@post("/{insurer:str}", status_code=200)
async def call(insurer: str, request: Request[Any, Any, Any]) -> Response[bytes]:
    source = SOURCES.get(insurer)
    if source is None or source.protocol != "soap":
        return _fault("soap:Client.NotFound", f"unknown insurer {insurer}")
    try:
        envelope = etree.fromstring(await request.body(), _PARSER)
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        operation = None if body is None or len(body) == 0 else body[0]
    except etree.XMLSyntaxError:
        return _fault("soap:Client.InvalidRequest", "malformed XML")
    if operation is None:
        return _fault("soap:Client.InvalidRequest", "empty SOAP body")
    try:
        return _envelope(_call(source, operation, _account(envelope)))
    except service.RequestError as exc:
        if exc.code == "unauthorized":
            return _fault("wsse:FailedAuthentication", exc.detail)
        return _fault(f"soap:Client.{FAULT_NAMES.get(exc.code, 'InvalidRequest')}", exc.detail)
    except ValueError as exc:
        return _fault("soap:Client.InvalidRequest", str(exc))


soap_router = Router(path="/soap", route_handlers=[get_wsdl, call])
