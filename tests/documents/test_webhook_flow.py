"""The whole path: the task system posts a signed task-completed; files land in the portal."""

from __future__ import annotations

import uuid

from tests.documents.support import deliveries, delivery_tasks, document, enable_portal, portal_files, task_completed
from tests.webhooks.support import create_endpoint, deliver, envelope


async def test_signed_task_completed_delivers_its_documents(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    endpoint = await create_endpoint(client, t.headers, source="task-system")
    payload = task_completed(
        [document("d1"), document("d2", template="Resumo da Folha de Pagamento", file_name="Resumo.pdf")]
    )
    body = envelope("task.completed", payload)
    r = await deliver(client, endpoint, body, msg_id="msg_task_1")
    assert r.status_code == 202, r.text
    await worker()
    rows = await deliveries(runtime, t)
    assert [(d.status, d.folder_path, d.name_used) for d in rows] == [
        ("delivered", ["Fiscal", "DAS"], "DAS Janeiro.pdf"),
        ("delivered", ["Pessoal", "Resumo Mensal"], "Resumo.pdf"),
    ]
    assert {d.event_id for d in rows} == {uuid.UUID(r.json()["id"])}
    files = {(tuple(f["folder_path"]), f["name"]) for f in await portal_files(sandbox.url, t)}
    assert files == {(("Fiscal", "DAS"), "DAS Janeiro.pdf"), (("Pessoal", "Resumo Mensal"), "Resumo.pdf")}
    # The partner retries the same message, then someone replays the event: nothing is made twice.
    assert (await deliver(client, endpoint, body, msg_id="msg_task_1")).status_code in (200, 202)
    replay = await client.post(f"/v1/webhook-events/{r.json()['id']}/replay", headers=t.headers)
    assert replay.status_code in (200, 202), replay.text
    await worker()
    assert len(await deliveries(runtime, t)) == 2
    assert len(await delivery_tasks(runtime, t)) == 1  # one task delivers the event's documents
    assert [f["version_count"] for f in await portal_files(sandbox.url, t)] == [1, 1]


async def test_event_with_two_content_sources_is_rejected(client, tenants) -> None:
    t = await tenants.create()
    endpoint = await create_endpoint(client, t.headers, source="task-system")
    doc = {**document("d1"), "content_url": "http://example.test/d1"}
    r = await deliver(client, endpoint, envelope("task.completed", task_completed([doc])))
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"].startswith("/data/documents/0")
