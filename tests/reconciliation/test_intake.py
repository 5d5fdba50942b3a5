"""Establishment setting and ERP sales intake: partial batches, idempotency, corrections."""

from __future__ import annotations

from datetime import timedelta

from tests.reconciliation.support import TZ, at_local, today_local

YESTERDAY = today_local() - timedelta(days=1)


def sale(n: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "sale_id": f"S-{n}",
        "sold_at": at_local(YESTERDAY, 10, n % 60).isoformat(),
        "gross_amount_cents": 1000 + n,
        "installments": 1,
        "brand": "visa",
        "payment_type": "debit",
        "nsu": f"{n:06d}",
        "authorization_code": f"{n:06d}",
        "terminal_id": "T1",
    }
    return {**row, **overrides}


async def test_enabling_needs_a_code_and_a_token(client, boavista) -> None:
    headers = boavista.tenant.headers
    r = await client.put("/v1/reconciliation/establishment", json={"enabled": True}, headers=headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {e["pointer"] for e in r.json()["errors"]} == {"/establishment_code", "/api_token"}
    r = await client.put("/v1/reconciliation/establishment", json={"enabled": True, "api_token": "x"}, headers=headers)
    assert [e["pointer"] for e in r.json()["errors"]] == ["/establishment_code"]
    r = await client.get("/v1/reconciliation/establishment", headers=headers)
    assert r.status_code == 404  # the failed PUT rolled back: nothing was saved

    body = {"enabled": False, "establishment_code": boavista.code}
    r = await client.put("/v1/reconciliation/establishment", json=body, headers=headers)
    assert r.status_code == 200
    assert r.json()["timezone"] == TZ and r.json()["enabled"] is False


async def test_enabling_checks_the_token_and_wires_the_return_webhook(client, boavista, settings) -> None:
    body = {
        "enabled": True,
        "establishment_code": boavista.code,
        "api_token": "bvt_wrong",
        "base_url": boavista.sandbox_url,
    }
    r = await client.put("/v1/reconciliation/establishment", json=body, headers=boavista.tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/api_token"

    body["api_token"] = boavista.token
    r = await client.put("/v1/reconciliation/establishment", json=body, headers=boavista.tenant.headers)
    assert r.status_code == 200, r.text
    setting = r.json()
    assert setting["has_api_token"] is True and "api_token" not in setting
    endpoint_id = setting["webhook_endpoint_id"]
    auth = {"authorization": f"Bearer {boavista.token}"}
    at_boavista = (await boavista.admin.get(f"/boavista/establishments/{boavista.code}", headers=auth)).json()
    assert at_boavista["webhook_url"] == f"{settings.public_url}/v1/webhooks/{endpoint_id}"
    endpoint = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=boavista.tenant.headers)).json()
    assert endpoint["source"] == "boavista"

    # Enabling again reuses the endpoint instead of creating another.
    r = await client.put("/v1/reconciliation/establishment", json={"enabled": True}, headers=boavista.tenant.headers)
    assert r.json()["webhook_endpoint_id"] == endpoint_id


async def test_partial_batch_accepts_valid_rows_and_rejects_each_bad_one(client, boavista) -> None:
    future = at_local(today_local() + timedelta(days=2)).isoformat()
    rows = [
        sale(0),
        sale(1, installments="x"),
        sale(2, payment_type="debit", installments=3),
        {k: v for k, v in sale(3).items() if k != "nsu"},
        sale(4, colour="red"),
        sale(5, sold_at=future),
        sale(6, payment_type="credit", installments=3, brand="mastercard"),
        sale(0),
        sale(8, gross_amount_cents=0),
    ]
    r = await boavista.post_sales(rows)
    assert r.status_code == 207, r.text
    body = r.json()
    assert [(a["index"], a["outcome"], a["status"]) for a in body["accepted"]] == [
        (0, "created", "pending"),
        (6, "created", "pending"),
    ]
    pointers = {x["index"]: [e["pointer"] for e in x["errors"]] for x in body["rejected"]}
    assert pointers == {
        1: ["/items/1/installments"],
        2: ["/items/2/installments"],
        3: ["/items/3/nsu"],
        4: ["/items/4/colour"],
        5: ["/items/5/sold_at"],
        7: ["/items/7/sale_id"],
        8: ["/items/8/gross_amount_cents"],
    }
    assert len(body["accepted"]) + len(body["rejected"]) == len(rows)  # never a silent drop

    # Idempotent on sale id: the same rows again are unchanged; other values are refused.
    r = await boavista.post_sales([sale(0), sale(6, payment_type="credit", installments=3, brand="mastercard")])
    assert r.status_code == 200
    assert [a["outcome"] for a in r.json()["accepted"]] == ["unchanged", "unchanged"]
    r = await boavista.post_sales([sale(0, gross_amount_cents=5)])
    assert r.status_code == 207
    assert r.json()["rejected"][0]["errors"][0]["pointer"] == "/items/0/sale_id"
    assert len(await boavista.sales()) == 2


async def test_batch_limits_and_tenant_isolation(client, boavista, tenants) -> None:
    r = await boavista.post_sales([sale(i) for i in range(1001)])
    assert r.status_code == 422
    r = await boavista.post_sales([])
    assert r.status_code == 422
    await boavista.post_sales([sale(1)])
    other = await tenants.create()
    assert (await client.get("/v1/reconciliation/sales/S-1", headers=other.headers)).status_code == 404
    assert (await client.get("/v1/reconciliation/sales/S-1", headers=boavista.tenant.headers)).status_code == 200


async def test_local_day_is_the_establishments_day(client, boavista) -> None:
    # 02:30 UTC is still the previous evening in São Paulo (UTC-3).
    late = at_local(YESTERDAY, 23, 30)
    await boavista.post_sales([sale(1, sold_at=late.isoformat().replace("+00:00", "Z"))])
    body = (await client.get("/v1/reconciliation/sales/S-1", headers=boavista.tenant.headers)).json()
    assert body["local_day"] == YESTERDAY.isoformat()
    assert body["sold_at"].startswith((YESTERDAY + timedelta(days=1)).isoformat())
    assert body["window_ends_at"] == at_local(YESTERDAY + timedelta(days=4), 0).isoformat().replace("+00:00", "Z")


async def test_a_sale_posted_after_its_window_is_expired_at_once(boavista) -> None:
    old = at_local(today_local() - timedelta(days=4), 10).isoformat()
    r = await boavista.post_sales([sale(1, sold_at=old), sale(2)])
    assert [a["status"] for a in r.json()["accepted"]] == ["expired", "pending"]


async def test_corrections_are_versioned_with_history_and_a_fresh_window(client, boavista) -> None:
    headers = boavista.tenant.headers
    await boavista.post_sales([sale(1, sold_at=at_local(today_local() - timedelta(days=3), 10).isoformat())])
    before = (await client.get("/v1/reconciliation/sales/S-1", headers=headers)).json()
    r = await client.patch(
        "/v1/reconciliation/sales/S-1", json={"authorization_code": "A1B2C3", "nsu": "9"}, headers=headers
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["version"] == 2 and after["status"] == "pending"
    assert after["authorization_code"] == "A1B2C3" and after["nsu"] == "9"
    assert after["window_ends_at"] > before["window_ends_at"]  # three more days from today
    assert after["window_ends_at"] == at_local(today_local() + timedelta(days=4), 0).isoformat().replace("+00:00", "Z")
    assert [h["kind"] for h in after["history"]] == ["received", "corrected"]
    assert after["history"][1]["detail"]["changes"] == {
        "authorization_code": ["000001", "A1B2C3"],
        "nsu": ["000001", "9"],
    }

    # The same values again change nothing; nothing at all, a bad field or an unknown sale are errors.
    same = await client.patch("/v1/reconciliation/sales/S-1", json={"nsu": "9"}, headers=headers)
    assert same.json()["version"] == 2
    assert (await client.patch("/v1/reconciliation/sales/S-1", json={}, headers=headers)).status_code == 422
    assert (
        await client.patch("/v1/reconciliation/sales/S-1", json={"installments": 0}, headers=headers)
    ).status_code == 422
    bad = await client.patch("/v1/reconciliation/sales/S-1", json={"installments": 2}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/installments"  # a debit sale
    assert (await client.patch("/v1/reconciliation/sales/nope", json={"nsu": "1"}, headers=headers)).status_code == 404
