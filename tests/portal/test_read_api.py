"""Read API over synchronised data: beneficiaries, providers, statements, any entity."""

from __future__ import annotations

from typing import Any

from tests.portal.conftest import Portal


async def fill(portal: Portal, worker: Any, *keys: str) -> None:
    for key in keys:
        assert (await portal.run(key, worker))["status"] == "succeeded"


async def test_beneficiaries_with_family_plan_and_grace_periods(portal: Portal, worker: Any) -> None:
    await fill(portal, worker, "beneficiary.full", "beneficiary.plan", "beneficiary.grace_period",
               "beneficiary_address.full")  # fmt: skip
    get = portal.client.get
    page = (await get("/v1/portal/beneficiaries?limit=10", headers=portal.headers)).json()
    assert len(page["items"]) == 10
    assert page["next_cursor"]
    nxt = (await get(f"/v1/portal/beneficiaries?limit=10&cursor={page['next_cursor']}", headers=portal.headers)).json()
    assert {b["id"] for b in page["items"]}.isdisjoint(b["id"] for b in nxt["items"])
    one = (await get("/v1/portal/beneficiaries/BEN00000004", headers=portal.headers)).json()
    assert one["family_id"] == "FAM00000001"
    assert {m["id"] for m in one["family"]} == {"BEN00000003", "BEN00000004", "BEN00000005"}
    assert one["plan"]["id"] == one["plan_id"]
    assert one["plan"]["name"]
    assert [g["id"] for g in one["grace_periods"]] == ["CAR00000004"]
    assert one["addresses"][0]["id"] == "BAD00000004"
    family = (await get("/v1/portal/beneficiaries?family_id=FAM00000001", headers=portal.headers)).json()
    assert [b["id"] for b in family["items"]] == ["BEN00000003", "BEN00000004", "BEN00000005"]
    assert (await get("/v1/portal/beneficiaries/BEN00000013", headers=portal.headers)).status_code == 404  # cancelled


async def test_providers_with_addresses_and_specialties(portal: Portal, worker: Any) -> None:
    await fill(portal, worker, "provider.full", "provider_address.full", "provider.specialty")
    get = portal.client.get
    one = (await get("/v1/portal/providers/PRE00000001", headers=portal.headers)).json()
    assert one["addresses"][0]["id"] == "PAD00000001"
    assert one["specialties"]
    assert all(s["name"] for s in one["specialties"])
    code = one["specialties"][0]["code"]
    page = (await get(f"/v1/portal/providers?specialty={code}&limit=500", headers=portal.headers)).json()
    assert "PRE00000001" in {p["id"] for p in page["items"]}
    assert all(code in [s["code"] for s in p["specialties"]] for p in page["items"])


async def test_statements_and_raw_records(portal: Portal, worker: Any, tenants: Any) -> None:
    await fill(portal, worker, "beneficiary.coparticipation_statement")
    get = portal.client.get
    page = (
        await get("/v1/portal/statements?kind=coparticipation&family_id=FAM00000002", headers=portal.headers)
    ).json()
    assert len(page["items"]) == 3
    assert all(s["family_id"] == "FAM00000002" and s["amount"]["currency"] == "BRL" for s in page["items"])
    assert all(isinstance(s["amount"]["amount_cents"], int) for s in page["items"])
    assert (await get("/v1/portal/statements?kind=other", headers=portal.headers)).status_code == 400
    raw = (await get("/v1/portal/records/coparticipation_statement?limit=2", headers=portal.headers)).json()
    assert len(raw["items"]) == 2
    assert raw["items"][0]["data"]["competence"]
    assert (await get("/v1/portal/records/nothing", headers=portal.headers)).status_code == 404
    other = await tenants.create()
    assert (await get("/v1/portal/records/coparticipation_statement", headers=other.headers)).json()["items"] == []
