"""The integration is on by default for new firms but refused until the portal connection is
checked, with the count of unmapped templates (seed 003, issue 15 item 9)."""

from __future__ import annotations

from tests.documents.support import complete_task, deliveries, delivery_tasks, document, firm, task_completed


async def test_new_firm_starts_on_but_refused_until_the_portal_is_checked(
    client, tenants, runtime, worker, sandbox
) -> None:
    t = await tenants.create()
    for name in ("Contrato Social", "Alvará"):
        r = await client.post("/v1/document-templates", json={"name": name}, headers=t.headers)
        assert r.status_code == 201
    state = (await client.get("/v1/document-portal/integration", headers=t.headers)).json()
    assert (state["enabled"], state["checked_at"], state["unmapped_templates"]) == (True, None, 2)
    assert "2 template(s) have no destination folder" in state["refusal"]

    # A task completed now is refused visibly (never dropped), with the count of unmapped templates.
    await complete_task(runtime, t, task_completed([document("d1")]))
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code) == ("failed", "portal_unchecked")
    # DAS arrived unknown, so it is a third template without a folder now.
    assert "checked" in (d.error or "") and "3 template(s)" in (d.error or "")
    r = await client.get(f"/v1/document-deliveries/{d.id}", headers=t.headers)
    assert r.json()["error_guide"] == "/v1/document-deliveries/error-codes/portal_unchecked"

    # Checking without a token, or with one the portal refuses, leaves it refused.
    r = await client.post("/v1/document-portal/integration/check", headers=t.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/token"
    body = {"enabled": True, "token": "not-a-portal-token", "base_url": f"{sandbox.url}/portal"}
    r = await client.put("/v1/document-portal/integration", json=body, headers=t.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/token"
    state = (await client.get("/v1/document-portal/integration", headers=t.headers)).json()
    assert state["checked_at"] is None and state["refusal"] is not None

    # Saving the token with the integration off keeps it unchecked; the check then opens it.
    body = {"enabled": False, "token": f"ptk_{firm(t)}", "base_url": f"{sandbox.url}/portal"}
    assert (await client.put("/v1/document-portal/integration", json=body, headers=t.headers)).status_code == 200
    body = {"enabled": True, "apply_default_folders": True}
    r = await client.put("/v1/document-portal/integration", json=body, headers=t.headers)
    assert r.status_code == 200 and r.json()["checked_at"] is not None and r.json()["refusal"] is None
    r = await client.post("/v1/document-portal/integration/check", headers=t.headers)
    assert r.status_code == 200 and r.json()["refusal"] is None

    # The refused delivery goes through on retry; a new token needs a new check.
    assert (await client.post(f"/v1/document-deliveries/{d.id}/retry", headers=t.headers)).status_code == 202
    await worker()
    [d] = await deliveries(runtime, t)
    assert d.status == "delivered"
    body = {"enabled": False, "token": f"ptk_{firm(t)}-2"}
    r = await client.put("/v1/document-portal/integration", json=body, headers=t.headers)
    assert r.json()["checked_at"] is None
    assert len(await delivery_tasks(runtime, t)) == 1
