"""The delivery rules of seed 003, end to end against the sandbox portal with the real worker."""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest

from gateway.documents import intake
from tests.documents.support import (
    clear_faults,
    complete_task,
    deliveries,
    delivery_tasks,
    document,
    enable_portal,
    portal_files,
    sandbox_call,
    set_portal_client,
    set_portal_faults,
    sha,
    task_completed,
)
from tests.workers_support import start_worker_process


def new_client() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


async def test_document_lands_in_its_template_folder(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    content = b"%PDF das de janeiro"
    await complete_task(runtime, t, task_completed([document("d1", content=content, sha256=sha(content))]))
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.name_used, d.folder_path, d.replaced) == (
        "delivered",
        "DAS Janeiro.pdf",
        ["Fiscal", "DAS"],
        False,
    )
    assert (d.sha256, d.size, d.content) == (sha(content), len(content), None)  # checksum and size, not the bytes
    [f] = await portal_files(sandbox.url, t)
    assert (f["folder_path"], f["name"], f["sha256"]) == (["Fiscal", "DAS"], "DAS Janeiro.pdf", sha(content))


async def test_content_by_url_is_fetched(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    doc_id = f"doc-{uuid.uuid4().hex}"
    await sandbox_call("PUT", f"{sandbox.url}/portal/_content/{doc_id}", content=b"from the task system")
    doc = {
        "id": "d1",
        "template": "Holerite",
        "file_name": "Holerite.pdf",
        "content_url": f"{sandbox.url}/portal/_content/{doc_id}",
    }
    await complete_task(runtime, t, task_completed([doc]))
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.sha256) == ("delivered", sha(b"from the task system"))


async def test_missing_folders_are_created(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    r = await client.post(
        "/v1/document-templates", json={"name": "Ata", "folder_path": ["Societário", "Atas", "2026"]}, headers=t.headers
    )
    assert r.status_code == 201
    await complete_task(runtime, t, task_completed([document("d1", template="Ata", file_name="Ata.pdf")]))
    await worker()
    [f] = await portal_files(sandbox.url, t)
    assert f["folder_path"] == ["Societário", "Atas", "2026"]


async def test_unmapped_template_fails_at_once_then_delivers_after_mapping(
    client, tenants, runtime, worker, sandbox
) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    await complete_task(
        runtime, t, task_completed([document("d1", template="Contrato Social", file_name="Contrato.pdf")])
    )
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code) == ("failed", "template_unmapped")  # visible before any worker ran
    unmapped = (await client.get("/v1/document-templates?mapped=false", headers=t.headers)).json()["items"]
    assert [u["name"] for u in unmapped] == ["Contrato Social"]  # the unknown template is listed to be mapped
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code) == ("failed", "template_unmapped")
    assert await portal_files(sandbox.url, t) == []
    r = await client.patch(
        f"/v1/document-templates/{unmapped[0]['id']}", json={"folder_path": ["Societário"]}, headers=t.headers
    )
    assert r.status_code == 200
    r = await client.post(f"/v1/document-deliveries/{d.id}/retry", headers=t.headers)
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["error_code"]) == ("queued", None)
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.folder_path) == ("delivered", ["Societário"])
    assert [f["name"] for f in await portal_files(sandbox.url, t)] == ["Contrato.pdf"]


async def test_same_name_not_viewed_is_replaced(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    await complete_task(runtime, t, task_completed([document("d1", content=b"v1")]))
    await worker()
    await complete_task(runtime, t, task_completed([document("d2", content=b"v2")], task_id="T-2"))
    await worker()
    [f] = await portal_files(sandbox.url, t)
    assert (f["name"], f["history"]) == ("DAS Janeiro.pdf", [sha(b"v1"), sha(b"v2")])
    assert [(d.name_used, d.replaced) for d in await deliveries(runtime, t)] == [
        ("DAS Janeiro.pdf", False),
        ("DAS Janeiro.pdf", True),
    ]


async def test_same_name_viewed_gets_numbered_copies(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    client_id = new_client()
    await set_portal_client(sandbox.url, client_id, auto_view=True)  # the client opens every file: each one locks
    await enable_portal(client, sandbox.url, t)
    for n in range(3):
        await complete_task(
            runtime, t, task_completed([document(f"d{n}", content=f"v{n}".encode())], client_id=client_id)
        )
        await worker()
    files = {f["name"]: f["sha256"] for f in await portal_files(sandbox.url, t, client_id)}
    assert files == {
        "DAS Janeiro.pdf": sha(b"v0"),
        "DAS Janeiro (1).pdf": sha(b"v1"),
        "DAS Janeiro (2).pdf": sha(b"v2"),
    }


@pytest.mark.parametrize("viewed", [True, False])
async def test_fifty_concurrent_deliveries_of_one_name_lose_nothing(
    client, tenants, runtime, worker, sandbox, viewed
) -> None:
    t = await tenants.create()
    client_id = new_client()
    await set_portal_client(sandbox.url, client_id, auto_view=viewed)
    await enable_portal(client, sandbox.url, t)
    contents = [f"version {n}".encode() for n in range(50)]
    for batch in range(5):  # 5 events of 10 documents, all the same file name in the same folder
        docs = [document(f"d{batch}-{n}", content=contents[batch * 10 + n]) for n in range(10)]
        await complete_task(runtime, t, task_completed(docs, client_id=client_id, task_id=f"T-{batch}"))
    await worker(max_jobs=50)
    rows = await deliveries(runtime, t)
    assert {d.status for d in rows} == {"delivered"}
    files = await portal_files(sandbox.url, t, client_id)
    if viewed:  # every file is locked the moment it lands: 50 files, 50 distinct names
        expected = {"DAS Janeiro.pdf"} | {f"DAS Janeiro ({n}).pdf" for n in range(1, 50)}
        assert {f["name"] for f in files} == expected
        assert {f["sha256"] for f in files} == {sha(c) for c in contents}
        assert {d.name_used for d in rows} == expected
    else:  # one file replaced 49 times: every version is in its history, none skipped
        [f] = files
        assert sorted(f["history"]) == sorted(sha(c) for c in contents)
        assert sum(bool(d.replaced) for d in rows) == 49


async def test_accounting_integration_documents_are_skipped(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    docs = [document("d1", origin="accounting_integration"), document("d2", file_name="Outro.pdf")]
    await complete_task(runtime, t, task_completed(docs))
    await worker()
    skipped, sent = await deliveries(runtime, t)
    assert (skipped.status, skipped.error_code, skipped.task_id, skipped.content) == (
        "skipped",
        "accounting_integration",
        None,
        None,
    )
    assert "accounting system" in (skipped.error or "")
    assert sent.status == "delivered"
    assert [f["name"] for f in await portal_files(sandbox.url, t)] == ["Outro.pdf"]


async def test_replaying_an_event_creates_nothing_twice(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    payload = task_completed([document("d1"), document("d2", file_name="B.pdf")])
    event_id = await complete_task(runtime, t, payload)
    await complete_task(runtime, t, payload, event_id=event_id)
    assert len(await deliveries(runtime, t)) == 2
    assert len(await delivery_tasks(runtime, t)) == 1  # one task delivers the event's documents
    await worker()
    await complete_task(runtime, t, payload, event_id=event_id)
    await worker()
    assert [f["version_count"] for f in await portal_files(sandbox.url, t)] == [1, 1]


async def test_transient_portal_errors_are_retried(client, tenants, runtime, worker, sandbox_faults) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox_faults, t)
    await set_portal_faults(sandbox_faults, error_rate=0.7, seed=7)
    await complete_task(runtime, t, task_completed([document(f"d{n}", file_name=f"F{n}.pdf") for n in range(10)]))
    await worker()
    rows = await deliveries(runtime, t)
    assert {d.status for d in rows} == {"delivered"}
    assert max(d.attempts for d in rows) > 1  # some needed the task-level backoff, not just in-place retries
    await clear_faults(sandbox_faults)
    assert len(await portal_files(sandbox_faults, t)) == 10


async def test_portal_down_fails_after_last_attempt_then_retry_delivers(
    client, tenants, runtime, worker, sandbox_faults, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "DELIVERY_MAX_ATTEMPTS", 3)
    t = await tenants.create()
    await enable_portal(client, sandbox_faults, t)
    await set_portal_faults(sandbox_faults, error_rate=1.0)
    await complete_task(runtime, t, task_completed([document("d1")]))
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code, d.attempts) == ("failed", "portal_unavailable", 3)
    [task] = await delivery_tasks(runtime, t)
    assert (task.status, task.attempt, task.error_code) == ("failed", 3, "portal_unavailable")
    await clear_faults(sandbox_faults)
    r = await client.post(f"/v1/document-deliveries/{d.id}/retry", headers=t.headers)
    assert r.status_code == 202
    await worker()
    [d] = await deliveries(runtime, t)
    assert d.status == "delivered"


@pytest.mark.parametrize(
    ("client_id", "doc", "code"),
    [
        ("missing-acme", document("d1"), "client_not_found"),
        ("restricted-acme", document("d1", template="Holerite", file_name="Holerite.pdf"), "permission_denied"),
        (
            "cli-1",
            {"id": "d1", "template": "DAS", "file_name": "a.pdf", "content_url": "SANDBOX/portal/_content/nope"},
            "content_unavailable",
        ),
        ("cli-1", document("d1", content=b"real", sha256=sha(b"other")), "checksum_mismatch"),
        *(  # inline content that is not strict base64: bad padding, a space, data after the padding
            ("cli-1", {"id": "d1", "template": "DAS", "file_name": "a.pdf", "content_base64": b}, "content_unavailable")
            for b in ("YQ", "YW Jj", "YQ==YQ==")
        ),
    ],
)
async def test_permanent_errors_fail_with_their_code_without_retrying(
    client, tenants, runtime, worker, sandbox, client_id, doc, code
) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    if "content_url" in doc:
        doc = {**doc, "content_url": doc["content_url"].replace("SANDBOX", sandbox.url)}
    await complete_task(runtime, t, task_completed([doc], client_id=client_id))
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code, d.attempts) == ("failed", code, 1)
    [task] = await delivery_tasks(runtime, t)
    assert (task.status, task.attempt, task.error_code) == ("failed", 1, code)


async def test_disabled_integration_skips_documents(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    r = await client.put("/v1/document-portal/integration", json={"enabled": False}, headers=t.headers)
    assert r.status_code == 200 and r.json()["refusal"] is None  # off: skipped, not refused
    await complete_task(runtime, t, task_completed([document("d1")]))
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code, d.task_id) == ("skipped", "integration_disabled", None)


async def test_a_stale_cached_folder_is_looked_up_again(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    r = await client.post("/v1/document-templates", json={"name": "Ata", "folder_path": ["Atas"]}, headers=t.headers)
    assert r.status_code == 201
    await complete_task(runtime, t, task_completed([document("d1", template="Ata", file_name="Ata 1.pdf")]))
    await worker()
    await sandbox_call("DELETE", f"{sandbox.url}/portal/_reset")  # the portal loses the folder we cached
    await complete_task(
        runtime, t, task_completed([document("d2", template="Ata", file_name="Ata 2.pdf")], task_id="T-2")
    )
    await worker()
    assert [d.status for d in await deliveries(runtime, t)] == ["delivered", "delivered"]
    assert [(f["folder_path"], f["name"]) for f in await portal_files(sandbox.url, t)] == [(["Atas"], "Ata 2.pdf")]


async def test_a_separate_worker_process_delivers(client, tenants, runtime, settings, sandbox) -> None:
    """Workers import only the jobs modules; the delivery must still run there."""
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    await complete_task(runtime, t, task_completed([document("d1")]))
    process = start_worker_process(settings)
    try:
        for _ in range(300):
            [d] = await deliveries(runtime, t)
            if d.status in ("delivered", "failed"):
                break
            await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert (d.status, d.error_code) == ("delivered", None)
