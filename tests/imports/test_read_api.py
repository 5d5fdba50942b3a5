"""Read API for third-party systems: policies with filters and cursors, one policy in full."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.imports.conftest import days_ago, launch, period, policies


async def test_policies_filter_and_paginate(client, tenants, worker, runtime, connect) -> None:
    t, other = await tenants.create(), await tenants.create()
    for insurer in ("warta", "ageas"):
        await launch(client, t, await connect(t, insurer), period=period(days_ago(10), days_ago(0)))
    before = datetime.now(UTC)
    await worker()
    stored = await policies(runtime, t.tenant_id)
    seen, cursor = [], None
    while True:
        params = {"insurer": "warta", "limit": 40} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/policies", params=params, headers=t.headers)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    warta = {p.policy_number for p in stored if p.insurer == "warta"}
    assert [p["policy_number"] for p in seen if p["policy_number"] in warta] == [p["policy_number"] for p in seen]
    assert len({p["id"] for p in seen}) == len(seen) == len(warta)
    one = next(p for p in stored if p.insurer == "ageas")
    r = await client.get("/v1/policies", params={"holder_tax_id": one.holder_tax_id}, headers=t.headers)
    assert one.policy_number in [p["policy_number"] for p in r.json()["items"]]
    cancelled = (await client.get("/v1/policies", params={"status": "cancelled"}, headers=t.headers)).json()["items"]
    assert all(p["status"] == "cancelled" for p in cancelled)
    since = (await client.get("/v1/policies", params={"updated_since": before.isoformat()}, headers=t.headers)).json()
    assert since["items"]
    later = datetime.now(UTC).isoformat()
    assert (await client.get("/v1/policies", params={"updated_since": later}, headers=t.headers)).json()["items"] == []
    assert (await client.get("/v1/policies", headers=other.headers)).json()["items"] == []
    detail = await client.get(f"/v1/policies/{one.id}", headers=t.headers)
    body = detail.json()
    assert body["policy"]["policy_number"] == one.policy_number
    assert body["policy"]["premium"]["currency"] == "EUR"
    assert body["receipts"] and all(r["status_history"][0]["from_status"] is None for r in body["receipts"])
    assert (await client.get(f"/v1/policies/{one.id}", headers=other.headers)).status_code == 404
