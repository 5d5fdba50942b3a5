"""Intake: only correctly signed, well-formed events get in; each is stored before the 2xx."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import func, select

from gateway.tasks.models import Task
from gateway.webhooks.intake import IntakeWriter, new_ids
from gateway.webhooks.models import WebhookEvent
from tests.statements import recorded_statements
from tests.webhooks.support import create_endpoint, deliver, envelope, signed_headers, stale, task_completed


async def stored(runtime) -> list[WebhookEvent]:  # type: ignore[no-untyped-def]
    async with runtime.db.sessionmaker() as session:
        return list((await session.scalars(select(WebhookEvent))).all())


async def test_endpoint_secret_is_shown_once(client, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    assert ep["secret"].startswith("whsec_")
    assert ep["url"].endswith(f"/v1/webhooks/{ep['id']}")
    assert ep["event_types"] == ["task.completed"]
    again = await client.get(f"/v1/webhook-endpoints/{ep['id']}", headers=t.headers)
    assert "secret" not in again.json()
    assert ep["secret"] not in again.text


async def test_unknown_source_is_422(client, tenants) -> None:
    t = await tenants.create()
    r = await client.post("/v1/webhook-endpoints", json={"source": "insurer:nope"}, headers=t.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/source"
    r = await client.post("/v1/webhook-endpoints", json={"source": "mail"}, headers=t.headers)
    assert r.status_code == 422


async def test_valid_delivery_is_stored_then_202(client, runtime, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    body = envelope("task.completed", task_completed())
    r = await deliver(client, ep, body, msg_id="msg_1")
    assert r.status_code == 202
    events = await stored(runtime)
    assert len(events) == 1
    e = events[0]
    assert (e.id, e.status, e.event_type, e.webhook_id, e.body) == (
        __import__("uuid").UUID(r.json()["id"]),
        "received",
        "task.completed",
        "msg_1",
        body,
    )
    assert e.headers["webhook-id"] == "msg_1"
    async with runtime.db.sessionmaker() as session:
        assert (await session.scalar(select(func.count()).select_from(Task).where(Task.kind == "webhook.process"))) == 1
    assert await runtime.queue.depth() == 1


async def test_concurrent_deliveries_are_written_one_flush_at_a_time(client, runtime, tenants, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # What arrives while a batch is being written waits for the next batch (light bodies: see
    # test_heavy_bodies_waiting_get_a_second_flush).
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    writer = IntakeWriter(runtime)
    batches: list[tuple[int, int]] = []
    write = writer._write

    async def counted(conn, rows):  # type: ignore[no-untyped-def]
        batches.append((writer._flushers, len(rows)))
        return await write(conn, rows)

    monkeypatch.setattr(writer, "_write", counted)
    bodies = [envelope("task.completed", task_completed(f"T-{n}")) for n in range(12)]
    outcomes = await asyncio.gather(
        *(
            writer.receive(uuid.UUID(ep["id"]), body, signed_headers(ep["secret"], body, msg_id=f"msg_{n}"))
            for n, body in enumerate(bodies)
        )
    )
    assert [(o.intake_status, o.duplicate) for o in outcomes] == [(202, False)] * 12
    assert {flushers for flushers, _ in batches} == {1}
    assert sum(size for _, size in batches) == 12
    events = await stored(runtime)
    assert {e.id for e in events} == {o.event_id for o in outcomes}
    assert (writer._pending, writer._flushers) == ([], 0)


@pytest.mark.parametrize("heavy", [True, False])
async def test_heavy_bodies_waiting_get_a_second_flush(client, runtime, tenants, monkeypatch, heavy) -> None:  # type: ignore[no-untyped-def]
    """While a batch is written, deliveries that arrive wait for it, unless their bodies add up to
    ``SECOND_FLUSH_BYTES``: then a second flush writes them alongside."""
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    endpoint_id = uuid.UUID(ep["id"])
    writer = IntakeWriter(runtime)
    (await writer.endpoint(endpoint_id)).expires = float("inf")
    writing, hold = asyncio.Event(), asyncio.Event()
    writes = {"now": 0, "most": 0}
    write = writer._write

    async def held(conn, rows):  # type: ignore[no-untyped-def]
        writes["now"] += 1
        writes["most"] = max(writes["most"], writes["now"])
        writing.set()
        await hold.wait()  # the first batch stays in PostgreSQL until the second wave is in
        try:
            return await write(conn, rows)
        finally:
            writes["now"] -= 1

    monkeypatch.setattr(writer, "_write", held)
    document = "A" * (40_000 if heavy else 100)  # ten of these: 400 KB waiting, or 1 KB

    def post(n: int) -> asyncio.Task[object]:
        data = task_completed(f"T-{n}")
        data["documents"][0]["content_base64"] = document
        body = envelope("task.completed", data)
        return asyncio.create_task(writer.receive(endpoint_id, body, signed_headers(ep["secret"], body)))

    first = post(0)
    await asyncio.wait_for(writing.wait(), 5)
    wave = [post(n) for n in range(1, 11)]
    for _ in range(20):
        await asyncio.sleep(0.01)  # a second flush, if any, reaches PostgreSQL meanwhile
    most = writes["most"]
    hold.set()
    outcomes = await asyncio.gather(first, *wave)
    assert [o.intake_status for o in outcomes] == [202] * 11  # type: ignore[attr-defined]
    assert most == (2 if heavy else 1)
    assert (writer._pending, writer._pending_bytes, writer._flushers) == ([], 0, 0)
    assert len(await stored(runtime)) == 11


async def test_one_batch_of_twins_redeliveries_rejections_and_tenants(client, runtime, tenants, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A batch whose events are not all new: each answer is still the first delivery's, and
    # each tenant with a new event gets one processing task listing it.
    a, b = await tenants.create(), await tenants.create()
    ep_a, ep_b = await create_endpoint(client, a.headers), await create_endpoint(client, b.headers)
    old = await deliver(client, ep_a, envelope("task.completed", task_completed("T-old")), msg_id="msg_old")
    writer = IntakeWriter(runtime)
    for ep in (ep_a, ep_b):  # cached for the test: every delivery below joins one batch
        (await writer.endpoint(uuid.UUID(ep["id"]))).expires = float("inf")
    sizes: list[int] = []
    write = writer._write

    async def counted(conn, rows):  # type: ignore[no-untyped-def]
        sizes.append(len(rows))
        return await write(conn, rows)

    monkeypatch.setattr(writer, "_write", counted)
    sent = [
        (ep_a, task_completed("T-new"), "msg_new"),
        (ep_a, task_completed("T-new"), "msg_new"),  # its twin, in the same batch
        (ep_a, task_completed("T-old"), "msg_old"),  # a redelivery of a stored event
        (ep_a, {"task_id": "T-bad"}, "msg_bad"),  # stored as rejected, never processed
        (ep_b, task_completed("T-b"), "msg_new"),  # same webhook-id, another endpoint
    ]
    bodies = [envelope("task.completed", data) for _, data, _ in sent]
    outcomes = await asyncio.gather(
        *(
            writer.receive(uuid.UUID(ep["id"]), body, signed_headers(ep["secret"], body, msg_id=msg_id))
            for (ep, _, msg_id), body in zip(sent, bodies, strict=True)
        )
    )
    assert sizes == [5]
    assert [(o.intake_status, o.duplicate) for o in outcomes] == [
        (202, False),
        (202, True),
        (202, True),
        (422, False),
        (202, False),
    ]
    assert outcomes[1].event_id == outcomes[0].event_id
    assert str(outcomes[2].event_id) == old.json()["id"]
    events = {e.id: e for e in await stored(runtime)}
    assert len(events) == 4
    for o in (outcomes[0], outcomes[3], outcomes[4]):
        assert isinstance(o.event_id, uuid.UUID)
        assert (uuid.UUID(str(o.event_id)).version, events[o.event_id].status) == (7, o.status)
    async with runtime.db.sessionmaker() as session:
        tasks = (await session.scalars(select(Task).where(Task.kind == "webhook.process"))).all()
    assert len(tasks) == 3  # the earlier delivery's, and one per tenant for this batch
    batch_tasks = {events[o.event_id].task_id: o for o in (outcomes[0], outcomes[4])}
    for task in tasks:
        if task.id in batch_tasks:
            assert task.tenant_id == events[batch_tasks[task.id].event_id].tenant_id
            assert str(batch_tasks[task.id].event_id) in task.params["event_ids"]
    assert len(batch_tasks) == 2
    assert all(t.id.version == 7 for t in tasks)
    assert set(batch_tasks) <= {t.id for t in tasks}


async def test_concurrent_deliveries_load_an_expired_endpoint_once(client, runtime, tenants) -> None:  # type: ignore[no-untyped-def]
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    writer = IntakeWriter(runtime)
    with recorded_statements(runtime) as executed:
        found = await asyncio.gather(*(writer.endpoint(uuid.UUID(ep["id"])) for _ in range(20)))
        missing = await asyncio.gather(*(writer.endpoint(uuid.uuid4()) for _ in range(2)), return_exceptions=True)
    loads = [statement for statement in executed if "FROM webhook_endpoints" in statement]
    assert len(loads) == 3  # the endpoint once; the two missing ones each once
    assert {e.tenant_id for e in found} == {t.tenant_id}
    assert [type(m).__name__ for m in missing] == ["NotFound", "NotFound"]


def test_event_ids_are_time_ordered_uuids() -> None:
    # Version 7: a later batch's ids sort after an earlier one's, so the inbox's primary key
    # grows at one edge; the rest of each id is random, never repeated.
    earlier = new_ids(500)
    time.sleep(0.002)
    later = new_ids(3)
    assert all(isinstance(i, uuid.UUID) and i.version == 7 and i.variant == uuid.RFC_4122 for i in earlier + later)
    assert len(set(earlier + later)) == 503
    assert max(str(i) for i in earlier) < min(str(i) for i in later)
    assert max(earlier) < min(later)
    assert abs(int(later[0].hex[:12], 16) / 1000 - time.time()) < 60
    assert new_ids(0) == []


async def test_tampered_body_wrong_secret_and_missing_headers_are_401_and_store_nothing(
    client, runtime, tenants
) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    other = await create_endpoint(client, t.headers)
    body = envelope("task.completed", task_completed())
    url = f"/v1/webhooks/{ep['id']}"
    headers = signed_headers(ep["secret"], body)
    tampered = await client.post(url, content=body.replace(b"client-42", b"client-43"), headers=headers)
    wrong_secret = await client.post(url, content=body, headers=signed_headers(other["secret"], body))
    unsigned = await client.post(url, content=body, headers={"content-type": "application/json"})
    garbage = await client.post(url, content=body, headers=headers | {"webhook-signature": "v1,@@@"})
    for r in (tampered, wrong_secret, unsigned, garbage):
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await stored(runtime) == []


async def test_stale_and_future_timestamps_are_401(client, runtime, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    body = envelope("task.completed", task_completed())
    assert (await deliver(client, ep, body, at=stale(-6))).status_code == 401
    assert (await deliver(client, ep, body, at=stale(+6))).status_code == 401
    assert (await deliver(client, ep, body, at=stale(-4))).status_code == 202
    assert len(await stored(runtime)) == 1


async def test_several_signatures_and_svix_headers_are_accepted(client, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    body = envelope("task.completed", task_completed())
    headers = signed_headers(ep["secret"], body)
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]
    assert (await client.post(f"/v1/webhooks/{ep['id']}", content=body, headers=headers)).status_code == 202
    svix = {k.replace("webhook-", "svix-"): v for k, v in signed_headers(ep["secret"], body).items()}
    assert (await client.post(f"/v1/webhooks/{ep['id']}", content=body, headers=svix)).status_code == 202


async def test_rotated_secret_valid_inside_grace_and_refused_after(client, runtime, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    rotated = await client.post(
        f"/v1/webhook-endpoints/{ep['id']}/rotate", json={"grace_seconds": 3600}, headers=t.headers
    )
    assert rotated.status_code == 201
    new = {**ep, "secret": rotated.json()["secret"]}
    body = envelope("task.completed", task_completed())
    assert (await deliver(client, ep, body)).status_code == 202  # old secret, inside grace
    assert (await deliver(client, new, body)).status_code == 202
    # Rotate again with no grace: every previous secret stops working at once.
    again = await client.post(f"/v1/webhook-endpoints/{ep['id']}/rotate", json={"grace_seconds": 0}, headers=t.headers)
    newest = {**ep, "secret": again.json()["secret"]}
    assert (await deliver(client, ep, body)).status_code == 401
    assert (await deliver(client, new, body)).status_code == 401
    assert (await deliver(client, newest, body)).status_code == 202


async def test_duplicate_webhook_id_is_not_processed_again(client, runtime, tenants, worker) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    body = envelope("task.completed", task_completed())
    first = await deliver(client, ep, body, msg_id="msg_dup")
    second = await deliver(client, ep, body, msg_id="msg_dup")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "status": "received", "duplicate": True}
    await worker()
    third = await deliver(client, ep, body, msg_id="msg_dup")
    assert third.json()["status"] == "processed"
    assert len(await stored(runtime)) == 1
    async with runtime.db.sessionmaker() as session:
        assert (await session.scalar(select(func.count()).select_from(Task))) == 1


async def test_oversize_body_is_413(client, runtime, tenants, settings) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    data = task_completed()
    data["documents"][0]["content_base64"] = "A" * (settings.max_body_bytes + 1)
    r = await deliver(client, ep, envelope("task.completed", data))
    assert r.status_code == 413
    assert await stored(runtime) == []


async def test_wrong_content_type_and_non_json(client, runtime, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    body = envelope("task.completed", task_completed())
    headers = signed_headers(ep["secret"], body) | {"content-type": "text/plain"}
    assert (await client.post(f"/v1/webhooks/{ep['id']}", content=body, headers=headers)).status_code == 415
    not_json = b"hello, not json"
    r = await client.post(f"/v1/webhooks/{ep['id']}", content=not_json, headers=signed_headers(ep["secret"], not_json))
    assert r.status_code == 400
    assert await stored(runtime) == []


async def test_schema_invalid_payload_is_422_stored_as_rejected_and_not_processed(
    client, runtime, tenants, worker
) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    data = task_completed()
    del data["client_id"]
    data["documents"][0]["sha256"] = "not-hex"
    r = await deliver(client, ep, envelope("task.completed", data), msg_id="msg_bad")
    assert r.status_code == 422
    problem = r.json()
    assert problem["errors"][0]["pointer"].startswith("/data")
    events = await stored(runtime)
    assert [(e.status, e.task_id) for e in events] == [("rejected", None)]
    again = await deliver(client, ep, envelope("task.completed", data), msg_id="msg_bad")
    assert again.status_code == 422 and again.json()["duplicate"] is True
    assert await worker() == 0


@pytest.mark.parametrize(("member", "longest"), [("employee", 200), ("department", 100)])
async def test_employee_and_department_longer_than_stored_are_422(client, tenants, member, longest) -> None:
    # Taken with a 202, they were refused by the database on every processing try.
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    data = task_completed() | {member: "É" * longest}
    assert (await deliver(client, ep, envelope("task.completed", data))).status_code == 202
    data[member] += "x"
    r = await deliver(client, ep, envelope("task.completed", data))
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == f"/data/{member}"


async def test_event_type_must_belong_to_the_source(client, runtime, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, source="boavista")
    r = await deliver(client, ep, envelope("task.completed", task_completed()))
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/type"


async def test_unknown_or_disabled_endpoint_is_404(client, tenants) -> None:
    import uuid

    t = await tenants.create()
    body = envelope("task.completed", task_completed())
    r = await client.post(
        f"/v1/webhooks/{uuid.uuid4()}", content=body, headers=signed_headers("whsec_" + "A" * 43, body)
    )
    assert r.status_code == 404
    ep = await create_endpoint(client, t.headers)
    assert (await client.delete(f"/v1/webhook-endpoints/{ep['id']}", headers=t.headers)).status_code == 204
    assert (await deliver(client, ep, body)).status_code == 404


async def test_another_tenants_endpoint_and_events_are_404(client, tenants, worker) -> None:
    a, b = await tenants.create(), await tenants.create()
    ep = await create_endpoint(client, a.headers)
    r = await deliver(client, ep, envelope("task.completed", task_completed()))
    event_id = r.json()["id"]
    assert (await client.get(f"/v1/webhook-endpoints/{ep['id']}", headers=b.headers)).status_code == 404
    assert (await client.get(f"/v1/webhook-events/{event_id}", headers=b.headers)).status_code == 404
    assert (await client.post(f"/v1/webhook-events/{event_id}/replay", headers=b.headers)).status_code == 404
    assert (await client.get("/v1/webhook-events", headers=b.headers)).json()["items"] == []


async def test_large_bodies_are_stored_lz4_compressed_and_read_back_as_received(client, runtime, tenants) -> None:
    """pglz over a 29 KB task-completed post was most of PostgreSQL's CPU per event; the gateway
    compresses it with LZ4 instead. What LZ4 cannot shrink (a PDF in base64), and small bodies,
    are stored as they came, and PostgreSQL is told not to compress the column again."""
    import base64
    import os

    from sqlalchemy import text

    from gateway.db.compressed import LZ4_MAGIC
    from gateway.webhooks import jobs

    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    padded = task_completed("T-padded", documents=20)
    for doc in padded["documents"]:
        doc["content_base64"] = base64.b64encode(b"%PDF " + b"." * 1500).decode()
    random_pdf = task_completed("T-random", documents=1)
    random_pdf["documents"][0]["content_base64"] = base64.b64encode(os.urandom(20_000)).decode()
    bodies = {
        "padded": envelope("task.completed", padded),
        "random": envelope("task.completed", random_pdf),
        "small": envelope("task.completed", task_completed("T-small")),
    }
    ids = {}
    for name, body in bodies.items():
        r = await deliver(client, ep, body, msg_id=f"msg_{name}")
        assert r.status_code == 202, r.text
        ids[name] = uuid.UUID(r.json()["id"])
    async with runtime.db.engine.connect() as conn:
        raw = dict((await conn.execute(text("SELECT webhook_id, body FROM webhook_events"))).all())
        storage = (
            await conn.execute(
                text(
                    "SELECT attstorage::text FROM pg_attribute"
                    " WHERE attrelid = 'webhook_events'::regclass AND attname = 'body'"
                )
            )
        ).scalar_one()
        pending = {r.id: r.body for r in await conn.execute(jobs._PENDING, {"ids": list(ids.values())})}
    assert raw["msg_padded"].startswith(LZ4_MAGIC) and len(raw["msg_padded"]) < len(bodies["padded"]) / 5
    assert raw["msg_random"] == bodies["random"]
    assert raw["msg_small"] == bodies["small"]
    assert storage == "e"  # EXTERNAL: out of line when large, never pglz: out of line when large, never pglz
    # Every reader gets the bytes as received: the ORM, processing's statement, the API.
    assert {e.webhook_id: e.body for e in await stored(runtime)} == {f"msg_{n}": b for n, b in bodies.items()}
    assert pending == {ids[n]: b for n, b in bodies.items()}
    url = f"/v1/webhook-events/{ids['padded']}"
    detail = await client.get(url, params={"include_payload": True}, headers=t.headers)
    assert detail.json()["payload"]["data"] == padded
