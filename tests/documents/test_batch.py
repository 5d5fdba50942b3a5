"""One task delivers an event's documents together: its outcomes, its retries, a crash inside it."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import uuid

import msgspec
from sqlalchemy import select, text, update

from gateway.documents import delivery
from gateway.documents.delivery import Delivery, Outcome
from gateway.documents.jobs import on_task_completed, on_task_completed_batch
from gateway.documents.models import DeliveryStatus
from gateway.partners.client_portal import ClientPortalClient, PortalFolder
from gateway.queue import Queue
from gateway.tasks.models import Task
from gateway.tasks.runner import run_tasks
from tests.documents.support import (
    complete_task,
    deliveries,
    delivery_tasks,
    document,
    enable_portal,
    inbound_event,
    portal_files,
    processing_context,
    set_portal_faults,
    task_completed,
)
from tests.statements import recorded_statements
from tests.webhooks.support import create_endpoint, envelope
from tests.webhooks.support import deliver as post_event
from tests.workers_support import start_worker_process


async def test_an_event_with_a_failure_is_partially_succeeded_and_a_retry_gets_its_own_task(
    client, tenants, runtime, worker, sandbox
) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    docs = [document("ok", file_name="DAS.pdf"), document("um", template="Procuração", file_name="Procuração.pdf")]
    await complete_task(runtime, t, task_completed(docs))
    await worker()
    [task] = await delivery_tasks(runtime, t)
    assert (task.status, task.error_code, task.result["delivered"], task.result["failed"]) == (
        "partially_succeeded",
        "template_unmapped",
        1,
        1,
    )
    by_doc = {d.document_id: d for d in await deliveries(runtime, t)}
    assert by_doc["ok"].task_id == by_doc["um"].task_id == task.id
    unmapped = (await client.get("/v1/document-templates?mapped=false", headers=t.headers)).json()["items"]
    [template] = [u["id"] for u in unmapped if u["name"] == "Procuração"]
    r = await client.patch(
        f"/v1/document-templates/{template}", json={"folder_path": ["Procurações"]}, headers=t.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/document-deliveries/{by_doc['um'].id}/retry", headers=t.headers)
    assert r.status_code == 202, r.text
    retry_task = uuid.UUID(r.json()["task_id"])
    assert retry_task != task.id  # the event's task, finished, keeps its record; the retry is a task of its own
    await worker()
    by_doc = {d.document_id: d for d in await deliveries(runtime, t)}
    assert (by_doc["um"].status, by_doc["um"].task_id, by_doc["um"].attempts) == ("delivered", retry_task, 2)
    async with runtime.db.sessionmaker() as session:
        tasks = {x.id: x for x in await session.scalars(select(Task).where(Task.id.in_([task.id, retry_task])))}
    assert (tasks[task.id].status, tasks[retry_task].status, tasks[retry_task].trigger) == (
        "partially_succeeded",
        "succeeded",
        "retry",
    )
    assert sorted(f["name"] for f in await portal_files(sandbox.url, t)) == ["DAS.pdf", "Procuração.pdf"]


async def test_concurrent_deliveries_to_a_new_client_list_its_folders_once(
    client, tenants, runtime, worker, sandbox, monkeypatch
) -> None:
    listings: list[str] = []
    list_folders = ClientPortalClient.list_folders

    async def counted(self: ClientPortalClient, client_id: str) -> list[PortalFolder]:
        listings.append(client_id)
        return await list_folders(self, client_id)

    monkeypatch.setattr(ClientPortalClient, "list_folders", counted)
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    templates = ["DAS", "DARF", "Holerite", "Guia do FGTS", "Balancete"]
    docs = [document(f"d{n}", template=templates[n % 5], file_name=f"F{n}.pdf") for n in range(10)]
    await complete_task(runtime, t, task_completed(docs, client_id="cli-folders"))
    await worker()
    assert {d.status for d in await deliveries(runtime, t)} == {"delivered"}
    assert listings == ["cli-folders"]  # ten documents, five folders, one listing
    assert len(await portal_files(sandbox.url, t, "cli-folders")) == 10


async def kill_a_worker_once_it_uploaded(settings, portal: str, t) -> None:  # type: ignore[no-untyped-def]
    """Start a worker process and SIGKILL it as soon as a file of ``t`` is in the portal."""
    first = start_worker_process(settings)
    try:
        for _ in range(600):
            if await portal_files(portal, t):
                break
            await asyncio.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


async def run_a_worker_until_settled(settings, runtime, t, *, tasks: int) -> None:  # type: ignore[no-untyped-def]
    """Run a worker process until ``t`` has ``tasks`` delivery tasks, none queued or running."""
    second = start_worker_process(settings)
    try:
        for _ in range(600):
            found = await delivery_tasks(runtime, t)
            if len(found) == tasks and all(task.status not in ("queued", "running") for task in found):
                break
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)


async def test_a_worker_killed_mid_batch_leaves_each_document_delivered_once(
    client, tenants, runtime, settings, sandbox_faults
) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox_faults, t)
    await set_portal_faults(sandbox_faults, latency_ms=300)  # the batch takes a while: room to kill it
    docs = [document(f"d{n}", file_name=f"F{n:02d}.pdf") for n in range(30)]
    await complete_task(runtime, t, task_completed(docs))

    await kill_a_worker_once_it_uploaded(settings, sandbox_faults, t)
    # Killed with part of the batch in the portal, none of it recorded: the rows still say delivering.
    assert 0 < len(await portal_files(sandbox_faults, t)) < 30
    assert {d.status for d in await deliveries(runtime, t)} == {"delivering"}
    await run_a_worker_until_settled(settings, runtime, t, tasks=1)
    rows = await deliveries(runtime, t)
    assert {d.status for d in rows} == {"delivered"}
    files = await portal_files(sandbox_faults, t)
    assert sorted(f["name"] for f in files) == [f"F{n:02d}.pdf" for n in range(30)]
    assert {f["version_count"] for f in files} == {1}  # nothing uploaded twice
    [task] = await delivery_tasks(runtime, t)
    assert (task.status, task.attempt) == ("succeeded", 2)


async def test_a_worker_killed_while_its_processing_run_delivers_the_events_delivers_each_document_once(
    client, tenants, runtime, settings, sandbox_faults
) -> None:
    # Posted through the intake, so the worker's processing run delivers the events itself.
    t = await tenants.create()
    await enable_portal(client, sandbox_faults, t)
    await set_portal_faults(sandbox_faults, latency_ms=300)
    endpoint = await create_endpoint(client, t.headers)
    for e in range(2):
        docs = [document(f"e{e}d{n}", file_name=f"E{e}-{n:02d}.pdf") for n in range(40)]
        body = envelope("task.completed", task_completed(docs, task_id=f"T-{e}"))
        assert (await post_event(client, endpoint, body)).status_code == 202
    await kill_a_worker_once_it_uploaded(settings, sandbox_faults, t)
    assert 0 < len(await portal_files(sandbox_faults, t)) < 80
    await run_a_worker_until_settled(settings, runtime, t, tasks=2)
    assert {d.status for d in await deliveries(runtime, t)} == {"delivered"}
    files = await portal_files(sandbox_faults, t)
    assert sorted(f["name"] for f in files) == sorted(f"E{e}-{n:02d}.pdf" for e in range(2) for n in range(40))
    assert {f["version_count"] for f in files} == {1}  # nothing uploaded twice
    tasks = await delivery_tasks(runtime, t)
    assert {task.status for task in tasks} == {"succeeded"}
    assert max(task.attempt for task in tasks) == 2  # the killed run's tasks ran again, once


async def test_a_batch_records_its_outcomes_and_their_events_in_one_statement(
    client, tenants, runtime, worker, sandbox
) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    docs = [document(f"ok-{n}", file_name=f"DAS {n}.pdf") for n in range(4)]
    docs += [document(f"um-{n}", template="Procuração", file_name=f"P {n}.pdf") for n in range(2)]
    await complete_task(runtime, t, task_completed(docs))
    with recorded_statements(runtime) as executed:
        await worker()
    statements = [" ".join(statement.split()) for statement in executed]
    [record] = [s for s in statements if "UPDATE document_deliveries AS d" in s]
    assert [s for s in statements if "INSERT INTO events" in s] == [record]  # no BEGIN/COMMIT needed
    rows = {d.document_id: d for d in await deliveries(runtime, t)}
    assert {d.status for k, d in rows.items() if k.startswith("ok")} == {"delivered"}
    assert {(d.status, d.error_code) for k, d in rows.items() if k.startswith("um")} == {
        ("failed", "template_unmapped")
    }
    async with runtime.db.engine.connect() as conn:
        events = (
            await conn.execute(text("SELECT type, body FROM events WHERE tenant_id = :t"), {"t": t.tenant_id})
        ).all()
    assert sorted(e.type for e in events) == ["document.delivered"] * 4 + ["document.delivery_failed"] * 2
    for e in events:
        data = msgspec.json.decode(e.body)["data"]
        row = rows[next(k for k, d in rows.items() if str(d.id) == data["delivery_id"])]
        if e.type == "document.delivered":
            assert (data["name_used"], data["folder_path"], data["size"]) == (row.name_used, row.folder_path, row.size)
        else:
            assert (data["error_code"], data["error"]) == ("template_unmapped", row.error)


async def test_a_late_outcome_for_a_row_already_delivered_changes_nothing_and_emits_nothing(
    client, tenants, runtime, worker, sandbox
) -> None:
    # A stale worker's late failure must not hide a success, nor announce a failure that is not.
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    await complete_task(runtime, t, task_completed([document("d1", file_name="DAS.pdf")]))
    await worker()
    [row] = await deliveries(runtime, t)
    assert row.status == "delivered"
    late = Delivery(
        row.id, t.tenant_id, row.task_id, row.client_id, None, row.template, row.file_name, row.content_type,
        None, None, None, ["Fiscal", "DAS"], None, None, None, None,
    )  # fmt: skip
    await delivery._record(runtime, [late], [Outcome(row.id, DeliveryStatus.failed, "portal_unavailable", "late")])
    [after] = await deliveries(runtime, t)
    assert (after.status, after.error_code, after.name_used) == ("delivered", None, "DAS.pdf")
    async with runtime.db.engine.connect() as conn:
        types = (await conn.execute(text("SELECT type FROM events WHERE tenant_id = :t"), {"t": t.tenant_id})).scalars()
        assert sorted(types) == ["document.delivered"]


async def test_a_batch_of_events_reads_the_tenants_portal_setup_once(client, tenants, runtime, sandbox) -> None:
    # The events of one processing run are one tenant's: its integration and templates are read
    # once for them all, not in each event's transaction; a name it has not seen is still
    # registered (unmapped) by the event that brings it.
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    ctx = processing_context(runtime, t)
    payloads = [task_completed([document(f"d{i}")], task_id=f"T-{i}") for i in range(5)]
    with recorded_statements(runtime) as executed:
        await asyncio.gather(*(complete_task(runtime, t, p, ctx=ctx) for p in payloads))
    reads = [s for s in executed if "FROM document_portal_integrations" in s or "FROM document_templates" in s]
    assert len(reads) == 2  # the integration and the templates, once
    await complete_task(runtime, t, task_completed([document("new", template="Alvará")], task_id="T-9"), ctx=ctx)
    rows = await deliveries(runtime, t)
    assert sorted((d.document_id, d.status, d.error_code) for d in rows) == [
        ("d0", "queued", None),
        ("d1", "queued", None),
        ("d2", "queued", None),
        ("d3", "queued", None),
        ("d4", "queued", None),
        ("new", "failed", "template_unmapped"),
    ]
    async with runtime.db.sessionmaker() as session:
        names = set(
            await session.scalars(text("SELECT name FROM document_templates WHERE tenant_id = :t"), {"t": t.tenant_id})
        )
    assert "Alvará" in names
    assert len(await delivery_tasks(runtime, t)) == 6  # one per event


async def test_an_events_task_and_deliveries_are_one_statement(client, tenants, runtime, sandbox) -> None:
    # Written together without a transaction around them (no BEGIN, no COMMIT round trips): a
    # second run, as after a crash between that statement and the enqueue, makes nothing twice.
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    ctx = processing_context(runtime, t)
    await complete_task(runtime, t, task_completed([document("warm")], task_id="T-0"), ctx=ctx)  # reads the setup
    payload = task_completed([document("a"), document("b", file_name="Outro.pdf")], task_id="T-1")
    event_id = uuid.uuid4()
    with recorded_statements(runtime) as statements:
        await complete_task(runtime, t, payload, event_id=event_id, ctx=ctx)
    assert len(statements) == 1 and "INSERT INTO tasks" in statements[0]
    await complete_task(runtime, t, payload, event_id=event_id)  # the same event again
    rows = [d for d in await deliveries(runtime, t) if d.event_id == event_id]
    tasks = [task for task in await delivery_tasks(runtime, t) if task.dedup_key == str(event_id)]
    assert len(tasks) == 1
    assert [(d.document_id, d.status, d.task_id) for d in rows] == [
        ("a", "queued", tasks[0].id),
        ("b", "queued", tasks[0].id),
    ]
    assert (tasks[0].status, tasks[0].max_attempts, tasks[0].params) == ("queued", 10, {"event_id": str(event_id)})


async def test_a_processing_runs_delivery_tasks_are_enqueued_together_outside_a_runner(
    client, tenants, runtime, sandbox, monkeypatch
) -> None:
    # Each event's task and deliveries are committed at once; the tasks wait for the end of the
    # run. Driven outside a runner (nothing runs them next), they are enqueued in one round trip.
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    sent: list[int] = []
    dispatch_many = Queue.dispatch_many

    async def counted(self: Queue, jobs) -> None:  # type: ignore[no-untyped-def]
        sent.append(len(jobs))
        await dispatch_many(self, jobs)

    monkeypatch.setattr(Queue, "dispatch_many", counted)
    ctx = processing_context(runtime, t)
    depth = await runtime.queue.depth()
    for i in range(3):
        await on_task_completed(ctx, inbound_event(t, task_completed([document(f"d{i}")], task_id=f"T-{i}")))
    assert (len(await delivery_tasks(runtime, t)), sent, await runtime.queue.depth()) == (3, [], depth)
    await ctx.send_jobs()
    assert (sent, await runtime.queue.depth()) == ([3], depth + 3)


async def test_a_processing_runs_events_are_delivered_together_with_one_claim_and_one_record(
    client, tenants, runtime, sandbox
) -> None:
    # What the runner does when the processing run ends: its events' delivery tasks are claimed
    # together, their documents uploaded concurrently, every outcome recorded in one statement
    # and the tasks finished in one; no queue job is sent for them.
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    ctx = processing_context(runtime, t)
    for i in range(3):
        docs = [document(f"d{i}a", file_name=f"A{i}.pdf"), document(f"d{i}b", file_name=f"B{i}.pdf")]
        await on_task_completed(ctx, inbound_event(t, task_completed(docs, task_id=f"T-{i}")))
    depth = await runtime.queue.depth()
    with recorded_statements(runtime) as statements:
        ran = await run_tasks(runtime, ctx.take_next()[0])  # nothing handed over: read from the database
    assert sorted(ran.values()) == ["succeeded"] * 3
    assert await runtime.queue.depth() == depth
    assert len([s for s in statements if "document_deliveries" in s]) == 2  # one claim, one record
    assert len([s for s in statements if "UPDATE tasks" in s]) == 2  # one claim, one finish
    rows = await deliveries(runtime, t)
    assert {(d.status, d.attempts) for d in rows} == {("delivered", 1)} and len(rows) == 6
    assert {task.status: task.result for task in await delivery_tasks(runtime, t)} == {
        "succeeded": {"delivered": 2, "failed": 0}
    }
    assert sorted(f["name"] for f in await portal_files(sandbox.url, t)) == [
        "A0.pdf", "A1.pdf", "A2.pdf", "B0.pdf", "B1.pdf", "B2.pdf"
    ]  # fmt: skip


async def test_a_runs_task_completed_events_are_recorded_in_one_statement(client, tenants, runtime, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    ctx = processing_context(runtime, t)
    events = [
        inbound_event(
            t, task_completed([document(f"d{i}a"), document(f"d{i}b", file_name=f"B{i}.pdf")], task_id=f"T-{i}")
        )
        for i in range(3)
    ]
    with recorded_statements(runtime) as executed:
        assert await on_task_completed_batch(ctx, events) == [None, None, None]
    inserts = [statement for statement in executed if "INSERT INTO" in statement]
    assert len(inserts) == 1  # every event's task and deliveries
    tasks = {task.dedup_key: task for task in await delivery_tasks(runtime, t)}
    rows = await deliveries(runtime, t)
    assert sorted((str(d.event_id), d.document_id) for d in rows) == sorted(
        (str(e.id), f"d{i}{x}") for i, e in enumerate(events) for x in "ab"
    )
    assert all(d.task_id == tasks[str(d.event_id)].id for d in rows)
    assert sorted(ctx.take_next()[0]) == sorted(task.id for task in tasks.values())
    assert ctx.counters["deliveries_created"] == 6
    assert await on_task_completed_batch(ctx, events) == [None, None, None]  # a second run makes nothing
    assert (len(await deliveries(runtime, t)), len(await delivery_tasks(runtime, t)), ctx.take_next()) == (
        6,
        3,
        ([], {}),
    )


async def test_an_event_the_database_refuses_fails_alone(client, tenants, runtime, sandbox) -> None:
    # The intake bounds what it takes; were an event to slip past it, only that event fails.
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    ctx = processing_context(runtime, t)
    good = [inbound_event(t, task_completed([document(f"g{i}")], task_id=f"T-{i}")) for i in range(2)]
    refused = inbound_event(t, task_completed([document("r")], task_id="T-r"))
    refused = dataclasses.replace(refused, data=msgspec.structs.replace(refused.data, employee="E" * 201))
    errors = await on_task_completed_batch(ctx, [good[0], refused, good[1]])
    assert errors[0] is None and errors[2] is None and errors[1] is not None
    assert sorted(d.document_id for d in await deliveries(runtime, t)) == ["g0", "g1"]


async def test_a_runs_deliveries_reach_their_first_attempt_without_being_read_back(
    client, tenants, runtime, sandbox
) -> None:
    # The processing run hands its new tasks' rows to their first attempt, in the same process:
    # no claim statement reads them back; the record counts the attempt.
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    ctx = processing_context(runtime, t)
    docs = [[document(f"d{i}", file_name=f"D{i}.pdf")] for i in range(2)]
    docs[1].append(document("u", template="Alvará", file_name="Alvará.pdf"))  # unmapped: fails at intake
    events = [inbound_event(t, task_completed(d, task_id=f"T-{i}")) for i, d in enumerate(docs)]
    assert await on_task_completed_batch(ctx, events) == [None, None]
    ids, given = ctx.take_next()
    assert sorted(given) == sorted(ids) and sorted(len(rows) for rows in given.values()) == [1, 2]
    with recorded_statements(runtime) as statements:
        ran = await run_tasks(runtime, ids, given)
    assert sorted(ran.values()) == ["partially_succeeded", "succeeded"]
    assert len([s for s in statements if "document_deliveries" in s]) == 1  # the record only
    rows = {d.document_id: d for d in await deliveries(runtime, t)}
    assert {k: (d.status, d.error_code, d.attempts) for k, d in rows.items()} == {
        "d0": ("delivered", None, 1),
        "d1": ("delivered", None, 1),
        "u": ("failed", "template_unmapped", 1),
    }


async def test_what_a_run_handed_over_is_read_afresh_by_a_later_attempt(client, tenants, runtime, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    ctx = processing_context(runtime, t)
    event_ = inbound_event(t, task_completed([document("d0", file_name="D0.pdf")]))
    assert await on_task_completed_batch(ctx, [event_]) == [None]
    ids, given = ctx.take_next()
    async with runtime.db.unit_of_work() as session:  # an attempt ran elsewhere, and came back queued
        await session.execute(update(Task).where(Task.id == ids[0]).values(attempt=1))
    with recorded_statements(runtime) as statements:
        assert await run_tasks(runtime, ids, given) == {ids[0]: "succeeded"}
    assert any(s.lstrip().startswith("WITH claimed AS") for s in statements)  # read afresh
    [row] = await deliveries(runtime, t)
    assert (row.status, row.attempts) == ("delivered", 1)


async def test_a_waiting_document_up_to_8_kb_is_stored_as_it_is(client, tenants, runtime, sandbox) -> None:
    """Its bytes leave the row once delivered: compressing them on the way in was a sixth of
    PostgreSQL's CPU in bench.document_delivery. Larger documents are still compressed."""
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    small, large = b"%PDF " + b"." * 6000, b"%PDF " + b"." * 20000  # both very compressible
    docs = [document("small", content=small), document("large", file_name="Grande.pdf", content=large)]
    await complete_task(runtime, t, task_completed(docs))
    async with runtime.db.engine.connect() as conn:
        stored = dict(
            (
                await conn.execute(
                    text(
                        "SELECT document_id, pg_column_compression(content) FROM document_deliveries"
                        " WHERE tenant_id = :t"
                    ),
                    {"t": t.tenant_id},
                )
            ).all()
        )
    assert stored == {"small": None, "large": "pglz"}
    assert sorted(d.content for d in await deliveries(runtime, t)) == sorted([small, large])
