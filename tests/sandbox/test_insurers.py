"""Insurer sandbox + partner clients, end to end over real HTTP (no mocks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import zeep
from standardwebhooks.webhooks import Webhook

from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.partners.insurer_rest import InsurerRestClient
from gateway.partners.insurer_soap import InsurerSoapClient, load_wsdl
from sandbox.server import SandboxServer
from tests.loopback import LOOPBACK_EGRESS

TODAY = "2025-11-24"
JULY = (date(2025, 7, 1), date(2025, 7, 31))
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(autouse=True)
def insurer_config(sandbox: SandboxServer) -> Iterator[None]:
    httpx.put(f"{sandbox.url}/insurers/_config/", json={"today": TODAY, "policies_per_insurer": 1500})
    yield
    httpx.delete(f"{sandbox.url}/insurers/_config/")


async def put(sandbox: SandboxServer, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        (await http.put(path, json=body)).raise_for_status()


async def configure(sandbox: SandboxServer, **knobs: Any) -> None:
    await put(sandbox, "/insurers/_config/", knobs)


async def get(sandbox: SandboxServer, path: str, params: dict[str, str], auth: tuple[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sandbox.url, auth=auth) as http:
        return await http.get(path, params=params)


def soap(sandbox: SandboxServer, insurer: str = "allianz", password: str = "sandbox", **kw: Any) -> InsurerSoapClient:
    return InsurerSoapClient(
        f"{sandbox.url}/insurers/soap/{insurer}", insurer, "broker-1", password, egress=LOOPBACK_EGRESS, **kw
    )


def rest(
    sandbox: SandboxServer, source: str = "warta", options: dict[str, str] | None = None, **kw: Any
) -> InsurerRestClient:
    opts = {"product": "property"} if options is None and source == "warta" else options
    password = kw.pop("password", "sandbox")
    return InsurerRestClient(
        f"{sandbox.url}/insurers/rest/{source}", source, "broker-1", password, opts, egress=LOOPBACK_EGRESS, **kw
    )


async def collect(client: InsurerSoapClient | InsurerRestClient, start: date, end: date) -> list[list[dict[str, Any]]]:
    async with client:
        return [page async for page in client.iter_portfolio(start, end)]


async def test_wsdl_loads_in_zeep(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/insurers/soap/zurich?wsdl"
    async with LOOPBACK_EGRESS.client() as http:
        document = await load_wsdl(url, http, partner="zurich")
        assert await load_wsdl(url, http, partner="zurich") is document  # cached, loaded once
    operations = next(iter(document.bindings.values()))._operations
    assert set(operations) == {"GetPortfolio", "GetPolicy", "Ping"}
    async with soap(sandbox, "zurich") as client:
        assert (await client.ping())["server_time"] == f"{TODAY}T12:00:00Z"


@pytest.mark.parametrize("protocol", ["soap", "rest"])
async def test_paging_returns_every_record_exactly_once(sandbox: SandboxServer, protocol: str) -> None:
    end = JULY[1] if protocol == "soap" else date(2025, 7, 16)
    make = soap if protocol == "soap" else rest
    await configure(sandbox, max_page_size=5000)
    [whole] = await collect(make(sandbox, page_size=5000), JULY[0], end)
    pages = await collect(make(sandbox, page_size=97), JULY[0], end)
    assert len(pages) > 3
    assert all(len(page) <= 97 for page in pages)
    assert [r for page in pages for r in page] == whole
    numbers = [r["receipts"][-1]["receipt_number"] for r in whole]
    assert len(numbers) == len(set(numbers))


async def test_as_of_period_insurer_sends_the_past_state(sandbox: SandboxServer) -> None:
    [*pages] = await collect(soap(sandbox, page_size=1000), *JULY)
    july = [r for page in pages for r in page]
    assert {r["as_of"] for r in july} == {"2025-07-31T23:59:59Z"}
    assert all(r["receipts"][-1]["status_changed_on"] <= "2025-07-31" for r in july)
    # A receipt pending at the end of July has been settled by now: re-reading July brings
    # back "pending" (seed 000), reading the policy today does not.
    pending = next(r for r in july if r["policy_number"] and r["receipts"][-1]["status"] == "pending")
    async with soap(sandbox) as client:
        today = await client.get_policy(pending["policy_number"])
    now = {x["receipt_number"]: x for x in today["receipts"]}
    assert today["as_of"] == f"{TODAY}T12:00:00Z"
    receipt = pending["receipts"][-1]["receipt_number"]
    assert receipt not in now or now[receipt]["status"] != "pending"


async def test_current_state_insurer_sends_today_whatever_the_period(sandbox: SandboxServer) -> None:
    pages = await collect(soap(sandbox, "ageas", page_size=1000), *JULY)
    records = [r for page in pages for r in page]
    assert records
    assert {r["as_of"] for r in records} == {f"{TODAY}T12:00:00Z"}
    assert any(r["receipts"][-1]["status_changed_on"] > "2025-07-31" for r in records)


async def test_records_change_over_time(sandbox: SandboxServer) -> None:
    async with rest(sandbox, "tuz") as client:
        [first, *_] = [r for page in [p async for p in client.iter_portfolio(*JULY_16)] for r in page]
        await configure(sandbox, today="2026-11-24")
        later = await client.get_policy(first["policy_number"])
    assert later["as_of"] == "2026-11-24T12:00:00Z"
    assert later["start_date"] > first["start_date"]  # renewed
    assert later["premium_cents"] != first["premium_cents"] or later["status"] != first["status"]


JULY_16 = (date(2025, 7, 1), date(2025, 7, 16))


async def test_same_request_twice_gives_the_same_data(sandbox: SandboxServer) -> None:
    assert await collect(rest(sandbox, "insly"), *JULY_16) == await collect(rest(sandbox, "insly"), *JULY_16)
    auth = ("someone-else", "sandbox")
    other = await get(sandbox, "/insurers/rest/insly/policies", {"from": "2025-07-01", "to": "2025-07-16"}, auth)
    mine = (await collect(rest(sandbox, "insly"), *JULY_16))[0]
    assert other.json()["items"][0]["policy_number"] != mine[0]["policy_number"]


async def test_a_few_bad_records_per_portfolio(sandbox: SandboxServer) -> None:
    await configure(sandbox, max_page_size=5000)
    records = [
        r
        for page in await collect(soap(sandbox, "fidelidade", page_size=5000), date(2025, 1, 1), date(2025, 1, 31))
        for r in page
    ]
    bad = [r for r in records if r["policy_number"] is None or not _is_date(r["start_date"])]
    assert 0 < len(bad) < len(records) / 100


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


async def test_bad_credentials_are_unauthorized(sandbox: SandboxServer) -> None:
    for client in (soap(sandbox, "medis", password="wrong"), rest(sandbox, "tuz", password="wrong")):
        async with client:
            with pytest.raises(PermanentPartnerError) as caught:
                await client.ping()
        assert caught.value.code == "unauthorized"


async def test_windows_longer_than_the_source_allows_are_refused(sandbox: SandboxServer) -> None:
    params = {"from": "2025-07-01", "to": "2025-07-17", "product": "life"}
    raw = await get(sandbox, "/insurers/rest/warta/policies", params, ("a", "sandbox"))
    assert raw.status_code == 400
    assert raw.json()["error"] == "window_too_long"
    for client, end in ((rest(sandbox), date(2025, 7, 17)), (soap(sandbox), date(2025, 8, 1))):
        with pytest.raises(PermanentPartnerError) as caught:
            await collect(client, date(2025, 7, 1), end)
        assert caught.value.code == "window_too_long"


async def test_source_options_are_enforced(sandbox: SandboxServer) -> None:
    mismatch = {"system": "iHestia", "brand": "mtu", "identity": "hestia"}
    with pytest.raises(PermanentPartnerError) as caught:
        await collect(rest(sandbox, "ergo-hestia", mismatch), *JULY_16)
    assert caught.value.code == "identity_mismatch"
    mtu = await collect(rest(sandbox, "ergo-hestia", {**mismatch, "identity": "mtu"}), *JULY_16)
    assert mtu[0][0]["policy_number"].startswith("MTU-")
    with pytest.raises(PermanentPartnerError) as caught:
        await collect(rest(sandbox, "warta", {}), *JULY_16)
    assert caught.value.code == "invalid_request"


async def test_unknown_policy_is_not_found(sandbox: SandboxServer) -> None:
    for client in (soap(sandbox), rest(sandbox)):
        async with client:
            with pytest.raises(PermanentPartnerError) as caught:
                await client.get_policy("NOPE-1")
        assert caught.value.code == "not_found"


async def test_partner_outage_is_transient(sandbox: SandboxServer) -> None:
    async with soap(sandbox, "liberty") as soap_client, rest(sandbox) as rest_client:
        await soap_client.ping()  # WSDL loaded before the outage
        await put(sandbox, "/_faults/insurers", {"error_rate": 1.0})
        for call in (soap_client.ping, rest_client.ping):
            with pytest.raises(TransientPartnerError):
                await call()
        with pytest.raises(TransientPartnerError):
            await load_wsdl(f"{sandbox.url}/insurers/soap/prevoir?wsdl", soap_client._http, partner="prevoir")
        await put(sandbox, "/_faults/insurers", {"timeout_rate": 1.0, "timeout_s": 2})
    async with rest(sandbox, timeout=0.3) as slow:
        with pytest.raises(TransientPartnerError):
            await slow.ping()


async def test_large_portfolio_is_served_in_pages(sandbox: SandboxServer) -> None:
    await configure(sandbox, policies_per_insurer=100_000)
    async with soap(sandbox, "una", page_size=1000) as client:
        first = await anext(client.iter_portfolio(*JULY))
    assert len(first) == 1000
    assert zeep.__version__  # the page went through zeep's parser


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_push_sends_signed_events(sandbox: SandboxServer) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}/webhooks"
    try:
        body = {"insurer": "fidelidade", "target_url": target, "secret": SECRET, "events": 4}
        reply = httpx.post(f"{sandbox.url}/insurers/_push", json=body, timeout=30).json()
        refused = httpx.post(f"{sandbox.url}/insurers/_push", json={**body, "insurer": "caravela"})
    finally:
        server.shutdown()
    assert [s["status"] for s in reply["sent"]] == [202] * 4
    assert refused.status_code == 400
    events = [Webhook(SECRET).verify(raw, headers) for headers, raw in Receiver.received]
    assert [h["webhook-id"] for h, _ in Receiver.received] == [f"msg_fidelidade_demo_{k}" for k in range(4)]
    assert [e["type"] for e in events] == ["policy.upserted", "receipt.status_changed"] * 2
    assert events[0]["data"]["as_of"] == f"{TODAY}T12:00:00Z"
    assert {"policy_number", "receipts", "premium_cents"} <= set(events[0]["data"])
    change = events[1]["data"]
    assert set(change) == {"insurer", "policy_number", "receipt_number", "status", "changed_at", "as_of"}
    assert change["status"] in {"pending", "paid", "cancelled", "returned"}
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(Receiver.received[0][1], Receiver.received[0][0])
