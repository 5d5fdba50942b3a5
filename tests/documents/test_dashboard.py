"""The failure dashboard: counts, failed list, retries; and what never leaks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import structlog

from gateway.documents import jobs
from gateway.observability import configure_logging
from gateway.tasks import runner
from tests.documents.support import complete_task, deliveries, document, enable_portal, portal_files, task_completed


async def failing_mix(client, runtime, worker, sandbox, t) -> None:  # type: ignore[no-untyped-def]
    """3 delivered, 2 template_unmapped, 1 client_not_found, 1 skipped."""
    await enable_portal(client, sandbox.url, t)
    docs = [document(f"ok{n}", file_name=f"DAS {n}.pdf") for n in range(3)]
    docs += [document(f"um{n}", template="Alvará", file_name=f"Alvará {n}.pdf") for n in range(2)]
    docs.append(document("acc", origin="accounting_integration"))
    await complete_task(runtime, t, task_completed(docs, task_id="T-ok"))
    await complete_task(runtime, t, task_completed([document("lost")], client_id="missing-1", task_id="T-lost"))
    await worker()


async def test_summary_counts_by_status_and_error_over_a_period(client, tenants, runtime, worker, sandbox) -> None:
    t, other = await tenants.create(), await tenants.create()
    await failing_mix(client, runtime, worker, sandbox, t)
    r = await client.get("/v1/document-deliveries/summary", headers=t.headers)
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["title"] == "Falha no envio de documentos ao Portal do Cliente"
    assert card["by_status"] == {"queued": 0, "delivering": 0, "delivered": 3, "skipped": 1, "failed": 3}
    assert (card["total"], card["failed"]) == (7, 3)
    assert card["by_error_code"] == {"template_unmapped": 2, "client_not_found": 1}
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await client.get("/v1/document-deliveries/summary", params={"from": later}, headers=t.headers)
    assert r.json()["total"] == 0
    r = await client.get("/v1/document-deliveries/summary", headers=other.headers)
    assert r.json()["total"] == 0


async def test_failed_list_shows_task_and_client_with_filters_and_cursor(
    client, tenants, runtime, worker, sandbox
) -> None:
    t = await tenants.create()
    await failing_mix(client, runtime, worker, sandbox, t)
    r = await client.get("/v1/document-deliveries", params={"status": "failed", "limit": 2}, headers=t.headers)
    first = r.json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    r = await client.get(
        "/v1/document-deliveries",
        params={"status": "failed", "limit": 2, "cursor": first["next_cursor"]},
        headers=t.headers,
    )
    items = first["items"] + r.json()["items"]
    assert r.json()["next_cursor"] is None
    assert sorted((i["source_task_id"], i["client_id"], i["error_code"]) for i in items) == [
        ("T-lost", "missing-1", "client_not_found"),
        ("T-ok", "cli-1", "template_unmapped"),
        ("T-ok", "cli-1", "template_unmapped"),
    ]
    assert all(i["task_id"] for i in items)
    r = await client.get("/v1/document-deliveries", params={"error_code": "client_not_found"}, headers=t.headers)
    [lost] = r.json()["items"]
    task = (await client.get(f"/v1/tasks/{lost['task_id']}", headers=t.headers)).json()
    assert (task["kind"], task["status"], task["error_code"]) == ("documents.deliver", "failed", "client_not_found")


async def test_retry_many_by_filter(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await failing_mix(client, runtime, worker, sandbox, t)
    await client.post("/v1/document-templates", json={"name": "Não usado"}, headers=t.headers)
    alvara = (await client.get("/v1/document-templates?mapped=false", headers=t.headers)).json()["items"][0]
    await client.patch(
        f"/v1/document-templates/{alvara['id']}", json={"folder_path": ["Fiscal", "Alvarás"]}, headers=t.headers
    )
    r = await client.post("/v1/document-deliveries/retry", json={"error_code": "template_unmapped"}, headers=t.headers)
    assert r.status_code == 202, r.text
    assert r.json() == {"requeued": 2, "more": False}
    await worker()
    by_doc = {d.document_id: d for d in await deliveries(runtime, t)}
    assert (by_doc["um0"].status, by_doc["um1"].status) == ("delivered", "delivered")
    assert by_doc["lost"].status == "failed"  # not selected by the filter
    names = {f["name"] for f in await portal_files(sandbox.url, t)}
    assert {"Alvará 0.pdf", "Alvará 1.pdf"} <= names


async def test_retry_rules_and_tenant_isolation(client, tenants, runtime, worker, sandbox) -> None:
    t, other = await tenants.create(), await tenants.create()
    await failing_mix(client, runtime, worker, sandbox, t)
    by_doc = {d.document_id: d for d in await deliveries(runtime, t)}
    for doc_id in ("ok0", "acc"):  # delivered and skipped deliveries are not retried
        r = await client.post(f"/v1/document-deliveries/{by_doc[doc_id].id}/retry", headers=t.headers)
        assert r.status_code == 409
    lost = by_doc["lost"].id
    assert (await client.get(f"/v1/document-deliveries/{lost}", headers=other.headers)).status_code == 404
    assert (await client.post(f"/v1/document-deliveries/{lost}/retry", headers=other.headers)).status_code == 404
    r = await client.post("/v1/document-deliveries/retry", json={}, headers=other.headers)
    assert r.json()["requeued"] == 0
    assert (await client.get("/v1/document-deliveries", headers=other.headers)).json()["items"] == []


async def test_contents_stay_out_of_logs_and_api(client, tenants, runtime, worker, sandbox, capfd, monkeypatch) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    secret = b"SALARIO-CONFIDENCIAL-4242"
    configure_logging("DEBUG", "json")
    # Loggers cache their configuration on first use: fresh ones see the DEBUG level set above.
    monkeypatch.setattr(jobs, "log", structlog.get_logger("ponte.documents"))
    monkeypatch.setattr(runner, "log", structlog.get_logger("ponte.tasks"))
    try:
        await complete_task(
            runtime,
            t,
            task_completed([document("d1", content=secret), document("d2", content=b"x", template="Sem Pasta")]),
        )
        await worker()
        r = await client.get("/v1/document-deliveries", headers=t.headers)
    finally:
        configure_logging(runtime.settings.log_level, runtime.settings.log_format)
    out = capfd.readouterr()
    logged = out.out + out.err
    assert "task_completed_recorded" in logged  # the logs were captured at DEBUG
    for leak in (secret.decode(), base64.b64encode(secret).decode()):
        assert leak not in logged
        assert leak not in r.text
    delivered = {d.document_id: d for d in await deliveries(runtime, t)}
    assert delivered["d1"].content is None  # gone once delivered
    assert delivered["d2"].content == b"x"  # kept while it may still be retried
