"""The lxml reader of portfolio replies gives exactly what zeep's own mapping gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import zeep
from zeep.exceptions import Fault, XMLParseError

from gateway.partners.errors import PermanentPartnerError
from gateway.partners.insurer_soap import (
    POLICY_KEYS,
    RECEIPT_KEYS,
    InsurerSoapClient,
    _policy,
    load_wsdl,
    serialize_object,
)
from gateway.partners.soap_reader import ReplyReader
from sandbox.insurers.wsdl import NS
from sandbox.server import SandboxServer
from tests.loopback import LOOPBACK_EGRESS

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass
class Reply:
    """A reply as zeep's transport hands it over (status, headers, body)."""

    content: bytes
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/xml; charset=utf-8"})
    encoding: str = "utf-8"


def soap(sandbox: SandboxServer, password: str = "sandbox", page_size: int = 300) -> InsurerSoapClient:
    url = f"{sandbox.url}/insurers/soap/allianz"
    return InsurerSoapClient(url, "allianz", "broker-1", password, page_size=page_size, egress=LOOPBACK_EGRESS)


async def zeep_client(sandbox: SandboxServer) -> tuple[Any, Any]:
    """zeep's own client on the same parsed WSDL, to compare with (raw replies in hand)."""
    async with LOOPBACK_EGRESS.client() as http:
        document = await load_wsdl(f"{sandbox.url}/insurers/soap/allianz?wsdl", http, partner="allianz")
    client = zeep.AsyncClient(document, settings=zeep.Settings(raw_response=True))
    return client, next(iter(document.bindings.values()))


def by_zeep(client: Any, binding: Any, reply: Reply) -> dict[str, Any]:
    result: dict[str, Any] = serialize_object(binding.process_reply(client, binding.get("GetPortfolio"), reply), dict)
    return result


async def test_a_real_portfolio_page_reads_the_same_as_zeep(sandbox: SandboxServer) -> None:
    client, binding = await zeep_client(sandbox)
    async with soap(sandbox) as client_of_ours:
        service = await client_of_ours._bound_service()
        today = date.today()
        raw = await service.GetPortfolio(
            periodFrom=(today - timedelta(days=15)).isoformat(), periodTo=today.isoformat(), pageSize=300
        )
    reply = Reply(raw.content)
    ours = ReplyReader(binding, "GetPortfolio").read(client, reply)
    assert ours == by_zeep(client, binding, reply)
    assert ours["policy"]
    assert any(p["receipt"] for p in ours["policy"])  # receipts nested in the policies


def envelope(body: str) -> bytes:
    return f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>{body}</s:Body></s:Envelope>'.encode()


@pytest.mark.parametrize(
    "policies",
    [
        "",  # an empty page
        "<p:policy><p:policyNumber>P1</p:policyNumber></p:policy>",  # leaves and receipts missing
        "<p:policy><p:policyNumber/><!-- note --><p:premiumCents>7</p:premiumCents>"
        "<p:receipt><p:receiptNumber>R1</p:receiptNumber><p:dueDate/><p:amountCents> 42 </p:amountCents>"
        "<p:status>paid</p:status><p:statusChangedOn>2026-11-01</p:statusChangedOn></p:receipt>"
        "</p:policy>",  # empty leaves, a comment, spaces around a number
        '<p:policy xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><p:policyNumber> P 1 </p:policyNumber>'
        '<p:product xsi:nil="true"/><p:holderName>Ana &amp; Rui <![CDATA[<Lda>]]> &#233;</p:holderName>'
        "<p:startDate>2024-02-30</p:startDate><p:premiumCents>-0012</p:premiumCents></p:policy>",  # text kept as sent
    ],
)
async def test_edge_cases_read_the_same_as_zeep(sandbox: SandboxServer, policies: str) -> None:
    client, binding = await zeep_client(sandbox)
    reply = Reply(
        envelope(f'<p:GetPortfolioResponse xmlns:p="{NS}">{policies}<p:asOf>x</p:asOf></p:GetPortfolioResponse>')
    )
    assert ReplyReader(binding, "GetPortfolio").read(client, reply) == by_zeep(client, binding, reply)


async def test_a_bad_number_is_none_and_an_unknown_element_refused(sandbox: SandboxServer) -> None:
    client, binding = await zeep_client(sandbox)
    reader = ReplyReader(binding, "GetPortfolio")
    bad = "<p:policy><p:policyNumber>P1</p:policyNumber><p:premiumCents>12x</p:premiumCents></p:policy>"
    reply = Reply(envelope(f'<p:GetPortfolioResponse xmlns:p="{NS}">{bad}</p:GetPortfolioResponse>'))
    [policy] = reader.read(client, reply)["policy"]
    assert (policy["policyNumber"], policy["premiumCents"]) == ("P1", None)  # the record decides, as with zeep
    extra = "<p:policy><p:extra>1</p:extra></p:policy>"
    reply = Reply(envelope(f'<p:GetPortfolioResponse xmlns:p="{NS}">{extra}</p:GetPortfolioResponse>'))
    with pytest.raises(XMLParseError, match="extra"):  # zeep's strict mode refuses it too
        reader.read(client, reply)


async def test_a_fault_in_a_200_reply_is_zeeps_fault(sandbox: SandboxServer) -> None:
    client, binding = await zeep_client(sandbox)
    reply = Reply(envelope("<s:Fault><faultcode>s:Server</faultcode><faultstring>down</faultstring></s:Fault>"))
    with pytest.raises(Fault, match="down"):
        ReplyReader(binding, "GetPortfolio").read(client, reply)


async def test_the_import_client_reads_pages_with_lxml_and_faults_through_zeep(sandbox: SandboxServer) -> None:
    today = date.today()
    async with soap(sandbox, page_size=50) as good:
        pages = [page async for page in good.iter_portfolio(today - timedelta(days=3), today)]
        assert pages and all(r["insurer"] == "allianz" and "receipts" in r for page in pages for r in page)
        assert (await good.ping())["status"]  # other operations: zeep's mapping
    async with soap(sandbox, password="wrong") as bad:
        with pytest.raises(PermanentPartnerError) as refused:  # zeep's Fault, mapped as before
            await anext(bad.iter_portfolio(today - timedelta(days=3), today))
    assert refused.value.code == "unauthorized"


def test_a_record_missing_fields_reads_them_as_none() -> None:
    full = {name: f"v-{name}" for name in POLICY_KEYS} | {"receipt": [dict.fromkeys(RECEIPT_KEYS, 1)]}
    record = _policy(full, "allianz")
    assert record == {key: f"v-{name}" for name, key in POLICY_KEYS.items()} | {
        "insurer": "allianz",
        "receipts": [dict.fromkeys(RECEIPT_KEYS.values(), 1)],
    }
    sparse = _policy({"policyNumber": "P1", "receipt": [{"receiptNumber": "R1"}]}, "allianz")
    assert sparse["policy_number"] == "P1" and sparse["premium_cents"] is None and sparse["as_of"] is None
    assert sparse["receipts"] == [{"receipt_number": "R1", "due_date": None, "amount_cents": None,
                                   "status": None, "status_changed_on": None}]  # fmt: skip
