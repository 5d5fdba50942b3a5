"""Boavista sandbox and client over real HTTP: generated data, remittances, signed return webhooks."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.partners.boavista import BoavistaClient
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from sandbox.server import SandboxServer
from tests.boavista_sandbox import WebhookReceiver, sandbox_config
from tests.loopback import LOOPBACK_EGRESS

CODE = "1020304050"
TODAY = date(2024, 5, 10)
SECRET = "whsec_" + "c2FuZGJveC1ib2F2aXN0YS10ZXN0LXNlY3JldA=="
# The ERP field each planted divergence changes.
DIVERGENT_FIELD = {
    "authorization": "authorization_code",
    "installments": "installments",
    "amount": "gross_amount_cents",
}
REASONS = {*DIVERGENT_FIELD, "not_found", "duplicate", "nsu"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.server.shutdown()


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """The test-only side of the sandbox: configuration, the ERP's sales, deliveries, faults."""
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=60) as client:
        settings = {"today": TODAY.isoformat(), "sales_per_day": 50, "return_delay_s": 0.05}
        async with sandbox_config(
            client, **settings, retry_delays_s=[0.05, 0.1, 0.2], not_found_reported_after_days=None
        ):
            yield client


async def configure(admin: httpx.AsyncClient, **settings: Any) -> None:
    (await admin.put("/boavista/_config", json=settings)).raise_for_status()


@pytest.fixture
async def token(admin: httpx.AsyncClient) -> str:
    establishments = (await admin.get("/boavista/_establishments")).json()
    return {e["establishment_code"]: e["token"] for e in establishments}[CODE]


@pytest.fixture
async def boavista(sandbox: SandboxServer, token: str) -> AsyncIterator[BoavistaClient]:
    async with BoavistaClient(sandbox.url, token, egress=LOOPBACK_EGRESS) as client:
        yield client


async def all_sales(
    client: BoavistaClient, day_from: date, day_to: date, page_size: int = 1000
) -> list[dict[str, Any]]:
    pages = [page async for page in client.iter_sales(CODE, day_from, day_to, page_size=page_size)]
    assert all(0 < len(page) <= page_size for page in pages)
    return [sale for page in pages for sale in page]


async def erp_day(admin: httpx.AsyncClient, day: date, **params: Any) -> dict[str, Any]:
    answer = await admin.get(f"/boavista/_erp_sales/{CODE}", params={"day": day.isoformat(), **params})
    payload: dict[str, Any] = answer.json()
    return payload


async def deliveries(admin: httpx.AsyncClient, remittance_id: str) -> list[dict[str, Any]]:
    answer = await admin.get("/boavista/_deliveries", params={"remittance_id": remittance_id})
    payload: list[dict[str, Any]] = answer.json()
    return payload


async def eventually(check: Callable[[], bool], within_s: float = 10.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_sales_are_deterministic_and_paged(admin: httpx.AsyncClient, boavista: BoavistaClient) -> None:
    first = await all_sales(boavista, date(2024, 5, 8), TODAY, page_size=7)
    again = await all_sales(boavista, date(2024, 5, 8), TODAY, page_size=1000)
    assert first == again
    assert 140 <= len(first) <= 160  # 3 days x 50, minus sales missing at the acquirer, plus duplicates
    assert {s["currency"] for s in first} == {"BRL"}
    assert [s["sold_at"] for s in first] == sorted(s["sold_at"] for s in first)
    assert await all_sales(boavista, TODAY, date(2024, 5, 12)) == [s for s in first if s["sold_at"] >= "2024-05-10T03"]


async def test_nsu_and_authorization_code_are_not_unique(admin: httpx.AsyncClient, boavista: BoavistaClient) -> None:
    await configure(admin, sales_per_day=2000)
    sales = await all_sales(boavista, date(2024, 5, 8), TODAY)
    assert len({s["acquirer_sale_id"] for s in sales}) == len(sales)
    assert max(Counter(s["nsu"] for s in sales).values()) > 3  # same NSU on several terminals and days
    assert max(Counter(s["authorization_code"] for s in sales).values()) > 1
    assert {"credit", "debit", "voucher", "digital_wallet"} <= {s["payment_type"] for s in sales}
    assert len({s["acquirer"] for s in sales}) >= 2


async def test_erp_diverges_from_acquirer_in_about_two_percent(
    admin: httpx.AsyncClient, boavista: BoavistaClient
) -> None:
    await configure(admin, sales_per_day=5000)
    acquirer = await all_sales(boavista, date(2024, 5, 8), TODAY, page_size=5000)
    erp = [await erp_day(admin, date(2024, 5, d)) for d in (8, 9, 10)]
    items = [item for day in erp for item in day["items"]]
    planted = {sale_id: reason for day in erp for sale_id, reason in day["divergences"].items()}
    assert len(items) == 15_000
    assert 0.015 < len(planted) / len(items) < 0.025
    by_reason = Counter(planted.values())
    assert set(by_reason) == REASONS
    assert min(by_reason.values()) >= 30

    # Check the planted divergences against the acquirer data itself, not against the sandbox's word.
    keyed: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for sale in acquirer:
        keyed.setdefault((sale["sold_at"], sale["terminal_id"], sale["nsu"]), []).append(sale)
    fields = ("gross_amount_cents", "installments", "brand", "payment_type", "authorization_code")
    for item in items:
        found = keyed.get((item["sold_at"], item["terminal_id"], item["nsu"]), [])
        reason = planted.get(item["sale_id"])
        if reason in (None, "duplicate"):
            assert len(found) == (2 if reason else 1)
            assert all(s[f] == item[f] for s in found for f in fields)
        elif reason in ("not_found", "nsu"):
            assert found == []
        else:
            field = DIVERGENT_FIELD[reason]
            (record,) = found
            assert record[field] != item[field]


async def test_remittance_return_arrives_signed_with_reasons(
    admin: httpx.AsyncClient, boavista: BoavistaClient, receiver: WebhookReceiver
) -> None:
    await configure(admin, sales_per_day=1000)
    await boavista.configure_webhook(CODE, receiver.url, SECRET)
    erp = [await erp_day(admin, date(2024, 5, d)) for d in (8, 9, 10)]
    items = [item for day in erp for item in day["items"]]
    planted = {sale_id: reason for day in erp for sale_id, reason in day["divergences"].items()}
    remittance_id = f"rem-{uuid.uuid4()}"

    protocol = await boavista.send_remittance(CODE, remittance_id, items)
    await eventually(lambda: bool(receiver.for_remittance(remittance_id)))

    headers, body = receiver.for_remittance(remittance_id)[0]
    envelope = Webhook(SECRET).verify(body, headers)
    assert envelope["type"] == "remittance.returned"
    data = envelope["data"]
    assert (data["protocol"], data["establishment_code"]) == (protocol, CODE)
    returned = {item["sale_id"]: item for item in data["items"]}
    assert len(returned) == len(items)
    assert {sale_id: item["reason"] for sale_id, item in returned.items() if item["reason"]} == planted
    assert set(planted.values()) == REASONS
    assert all(i["status"] == ("divergent" if i["reason"] else "matched") for i in returned.values())
    assert all(i["acquirer_sale_id"] is None for i in returned.values() if i["reason"] == "not_found")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "b3RoZXItc2VjcmV0LW5vdC1ib2F2aXN0YXM=").verify(body, headers)
    polled = await boavista.get_remittance(CODE, remittance_id)
    assert (polled["status"], polled["items"]) == ("returned", data["items"]) and polled["returned_at"]

    # Boavista losing the remittance: polling then answers a named 404.
    (await admin.delete(f"/boavista/_remittances/{remittance_id}")).raise_for_status()
    with pytest.raises(PermanentPartnerError) as lost:
        await boavista.get_remittance(CODE, remittance_id)
    assert (lost.value.code, lost.value.status) == ("remittance_not_found", 404)


async def test_corrected_sales_match_except_what_only_the_acquirer_can_fix(
    admin: httpx.AsyncClient, boavista: BoavistaClient, receiver: WebhookReceiver
) -> None:
    await configure(admin, sales_per_day=3000)
    await boavista.configure_webhook(CODE, receiver.url, SECRET)
    original = await erp_day(admin, TODAY)
    corrected = {i["sale_id"]: i for i in (await erp_day(admin, TODAY, corrected="true"))["items"]}
    items = [corrected[sale_id] for sale_id in original["divergences"]]
    remittance_id = f"fix-{uuid.uuid4()}"
    await boavista.send_remittance(CODE, remittance_id, items)
    await eventually(lambda: bool(receiver.for_remittance(remittance_id)))
    _, body = receiver.for_remittance(remittance_id)[0]
    reasons = {i["sale_id"]: i["reason"] for i in json.loads(body)["data"]["items"]}
    expected = {s: (r if r in ("not_found", "duplicate") else None) for s, r in original["divergences"].items()}
    assert reasons == expected


async def test_acquirers_can_report_not_found_sales_late(
    admin: httpx.AsyncClient, boavista: BoavistaClient, receiver: WebhookReceiver
) -> None:
    await configure(admin, sales_per_day=1000, not_found_reported_after_days=1)
    await boavista.configure_webhook(CODE, receiver.url, SECRET)
    erp = await erp_day(admin, TODAY)
    missing = {sid for sid, reason in erp["divergences"].items() if reason == "not_found"}
    assert missing
    items = [i for i in erp["items"] if i["sale_id"] in missing]

    async def reasons() -> dict[str, str | None]:
        remittance_id = f"late-{uuid.uuid4()}"
        await boavista.send_remittance(CODE, remittance_id, items)
        await eventually(lambda: bool(receiver.for_remittance(remittance_id)))
        _, body = receiver.for_remittance(remittance_id)[0]
        return {i["sale_id"]: i["reason"] for i in json.loads(body)["data"]["items"]}

    on_the_day = await all_sales(boavista, TODAY, TODAY)
    assert await reasons() == dict.fromkeys(missing, "not_found")
    await configure(admin, today=date(2024, 5, 11).isoformat())
    next_day = await all_sales(boavista, TODAY, TODAY)
    assert len(next_day) == len(on_the_day) + len(missing)  # the late records, on their own day
    assert await reasons() == dict.fromkeys(missing, None)  # and Boavista now matches the sales


async def test_remittance_is_idempotent_on_its_id(
    admin: httpx.AsyncClient, boavista: BoavistaClient, receiver: WebhookReceiver
) -> None:
    await boavista.configure_webhook(CODE, receiver.url, SECRET)
    items = (await erp_day(admin, TODAY))["items"]
    remittance_id = f"idem-{uuid.uuid4()}"
    protocols = {await boavista.send_remittance(CODE, remittance_id, items) for _ in range(3)}
    assert len(protocols) == 1
    await eventually(lambda: bool(receiver.for_remittance(remittance_id)))
    await asyncio.sleep(0.3)
    assert len(receiver.for_remittance(remittance_id)) == 1
    assert len(await deliveries(admin, remittance_id)) == 1
    with pytest.raises(PermanentPartnerError) as conflict:
        await boavista.send_remittance(CODE, remittance_id, items[:-1])
    assert conflict.value.code == "remittance_conflict"


async def test_resend_keeps_webhook_id_and_second_return_gets_a_new_one(
    admin: httpx.AsyncClient, boavista: BoavistaClient, receiver: WebhookReceiver
) -> None:
    await boavista.configure_webhook(CODE, receiver.url, SECRET)
    remittance_id = f"dup-{uuid.uuid4()}"
    await boavista.send_remittance(CODE, remittance_id, (await erp_day(admin, TODAY))["items"][:5])
    await eventually(lambda: len(receiver.for_remittance(remittance_id)) == 1)

    (await admin.post(f"/boavista/_resend/{remittance_id}")).raise_for_status()
    await eventually(lambda: len(receiver.for_remittance(remittance_id)) == 2)
    (await admin.post(f"/boavista/_return_again/{remittance_id}")).raise_for_status()
    await eventually(lambda: len(receiver.for_remittance(remittance_id)) == 3)

    (first, first_body), (resent, resent_body), (second, _) = receiver.for_remittance(remittance_id)
    assert resent["webhook-id"] == first["webhook-id"]
    assert resent_body == first_body
    assert second["webhook-id"] != first["webhook-id"]
    for headers, body in receiver.for_remittance(remittance_id):
        Webhook(SECRET).verify(body, headers)


async def test_return_is_retried_until_the_receiver_accepts(
    admin: httpx.AsyncClient, boavista: BoavistaClient, receiver: WebhookReceiver
) -> None:
    await boavista.configure_webhook(CODE, receiver.url, SECRET)
    receiver.refuse_next = 2
    remittance_id = f"retry-{uuid.uuid4()}"
    await boavista.send_remittance(CODE, remittance_id, (await erp_day(admin, TODAY))["items"][:3])
    await eventually(lambda: bool(receiver.for_remittance(remittance_id)))
    # The receiver has the message a moment before Boavista records the 204 it answered.
    for _ in range(500):
        (delivery,) = await deliveries(admin, remittance_id)
        if delivery["status"] != "pending":
            break
        await asyncio.sleep(0.02)
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 204]


async def test_bad_token_and_unknown_establishment(sandbox: SandboxServer, boavista: BoavistaClient) -> None:
    assert (await boavista.ping(CODE))["establishment_code"] == CODE
    async with BoavistaClient(sandbox.url, "bvt_wrong", egress=LOOPBACK_EGRESS) as intruder:
        with pytest.raises(PermanentPartnerError) as denied:
            await intruder.ping(CODE)
    assert (denied.value.code, denied.value.status) == ("unauthorized", 401)
    with pytest.raises(PermanentPartnerError) as unknown:
        await boavista.ping("0000000000")
    assert (unknown.value.code, unknown.value.status) == ("establishment_not_found", 404)


async def test_injected_outage_and_timeout_are_transient(
    sandbox: SandboxServer, admin: httpx.AsyncClient, boavista: BoavistaClient
) -> None:
    (await admin.put("/_faults/boavista", json={"error_rate": 1.0})).raise_for_status()
    with pytest.raises(TransientPartnerError) as outage:
        await boavista.ping(CODE)
    assert outage.value.status == 503
    (await admin.put("/_faults/boavista", json={"timeout_rate": 1.0, "timeout_s": 2.0})).raise_for_status()
    async with BoavistaClient(sandbox.url, "bvt_any", timeout=0.2, egress=LOOPBACK_EGRESS) as slow:
        with pytest.raises(TransientPartnerError):
            await slow.ping(CODE)
