"""Portal requests: created through the API, exported exactly once, situation brought back."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.partners.core_system import CoreSystemClient
from gateway.partners.errors import PermanentPartnerError
from gateway.portal import exchange
from tests.portal.conftest import Portal


async def create(portal: Portal, kind: str, subject_id: str | None = "BEN00000001", **payload: Any) -> dict[str, Any]:
    body = {"kind": kind, "subject_id": subject_id, "payload": payload or {"reason": "Perda"}}
    r = await portal.client.post("/v1/portal/requests", json=body, headers=portal.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def read(portal: Portal, request_id: str) -> dict[str, Any]:
    r = await portal.client.get(f"/v1/portal/requests/{request_id}", headers=portal.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def core_requests(portal: Portal) -> list[dict[str, Any]]:
    return portal.core("GET", "/requests", params={"limit": 1000})["items"]  # type: ignore[no-any-return]


async def test_card_copy_is_exported_once_and_its_situation_comes_back(portal: Portal, worker: Any) -> None:
    request = await create(portal, "card_copy")
    assert (request["export_status"], [h["step"] for h in request["history"]]) == ("pending", ["created"])
    await worker()  # card copies wait for their export sync
    assert (await read(portal, request["id"]))["export_status"] == "pending"
    run = await portal.run("beneficiary.card_copy.export", worker)
    assert run["counters"] == {"exported": 1, "already_exported": 0, "failed": 0}
    exported = await read(portal, request["id"])
    assert exported["export_status"] == "exported"
    assert exported["protocol"]
    assert [h["step"] for h in exported["history"]] == ["created", "exported", "received"]
    assert (await portal.run("beneficiary.card_copy.export", worker))["counters"]["exported"] == 0
    assert [r["id"] for r in core_requests(portal)] == [request["id"]]
    portal.core("PUT", "/_config", json={"now": "2025-06-04T12:00:00Z"})  # the core system decides after a day
    status = await portal.run("beneficiary.card_copy.status", worker)
    assert status["counters"] == {"updated": 1, "unchanged": 0, "unknown": 0}
    decided = await read(portal, request["id"])
    assert decided["situation"] in ("approved", "rejected")
    assert [h["step"] for h in decided["history"]] == ["created", "exported", "received", decided["situation"]]
    again = await portal.run("beneficiary.card_copy.status", worker)
    assert again["counters"] == {"updated": 0, "unchanged": 1, "unknown": 0}
    assert len((await read(portal, request["id"]))["history"]) == 4


async def test_a_crash_between_send_and_commit_sends_the_same_id_again(
    portal: Portal, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = [await create(portal, "provider_address_change", f"PRE0000000{i}") for i in range(3)]
    real = exchange.record_exports
    crashes = {"left": 1}

    async def crash_once(*args: Any, **kwargs: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("worker died before commit")
        await real(*args, **kwargs)

    monkeypatch.setattr(exchange, "record_exports", crash_once)
    run = await portal.run("provider.address_change.export", worker)
    assert (run["status"], run["attempt"]) == ("succeeded", 2)
    assert run["counters"] == {"exported": 3, "already_exported": 0, "failed": 0}
    sent = core_requests(portal)
    assert sorted(r["id"] for r in sent) == sorted(r["id"] for r in requests)  # sent twice, received once each
    for request in requests:
        history = (await read(portal, request["id"]))["history"]
        assert [h["step"] for h in history].count("exported") == 1


async def test_beneficiary_changes_are_exported_at_creation(portal: Portal, worker: Any) -> None:
    request = await create(portal, "beneficiary_address_change", "BEN00000004", street="Rua Nova", number="10")
    await worker()
    exported = await read(portal, request["id"])
    assert exported["export_status"] == "exported"
    portal.core("PUT", "/_config", json={"now": "2025-06-02T13:30:00Z"})
    run = await portal.run("beneficiary.address_change.status", worker)
    assert run["counters"]["updated"] == 1
    assert (await read(portal, request["id"]))["situation"] == "in_analysis"


async def test_status_sync_sends_beneficiary_changes_the_creation_export_missed(
    portal: Portal, worker: Any, runtime: Any
) -> None:
    request = await create(portal, "beneficiary_registration_change", "BEN00000005", email="novo@exemplo.com.br")
    await runtime.queue.redis.flushall()  # the export task is lost (its row stays queued)
    run = await portal.run("beneficiary.registration_change.status", worker)
    assert run["counters"]["exported"] == 1
    assert run["counters"]["unchanged"] == 1
    assert (await read(portal, request["id"]))["situation"] == "received"


async def test_a_request_the_core_system_rejects_is_failed_not_retried(
    portal: Portal, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = await create(portal, "new_family", None, holder="Ana")
    bad = await create(portal, "new_beneficiary", None, name="?")
    real = CoreSystemClient.submit_request

    async def reject_new_beneficiary(self: CoreSystemClient, submission: Any) -> Any:
        if submission.kind == "new_beneficiary":
            raise PermanentPartnerError("core_system answered 422", code="partner_rejected", status=422)
        return await real(self, submission)

    monkeypatch.setattr(CoreSystemClient, "submit_request", reject_new_beneficiary)
    run = await portal.run("contractor.new_members.export", worker)
    assert run["status"] == "partially_succeeded"
    assert run["counters"] == {"exported": 1, "already_exported": 0, "failed": 1}
    assert run["failures"][0]["external_id"] == bad["id"]
    assert (await read(portal, good["id"]))["export_status"] == "exported"
    failed = await read(portal, bad["id"])
    assert failed["export_status"] == "failed"
    assert failed["export_error"].startswith("partner_rejected")


async def test_requests_are_validated_and_private(portal: Portal, tenants: Any) -> None:
    post = portal.client.post
    r = await post("/v1/portal/requests", json={"kind": "card_copy"}, headers=portal.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/subject_id"
    r = await post("/v1/portal/requests", json={"kind": "new_family"}, headers=portal.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/payload"
    r = await post("/v1/portal/requests", json={"kind": "pizza", "subject_id": "x"}, headers=portal.headers)
    assert r.status_code == 422
    request = await create(portal, "card_copy")
    other = await tenants.create()
    assert (await portal.client.get(f"/v1/portal/requests/{request['id']}", headers=other.headers)).status_code == 404
    listed = await portal.client.get("/v1/portal/requests?kind=card_copy&export_status=pending", headers=portal.headers)
    assert [r["id"] for r in listed.json()["items"]] == [request["id"]]
