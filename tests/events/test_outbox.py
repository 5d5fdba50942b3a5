"""The outbox: an event exists exactly when the change that causes it commits."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, text

from gateway.events.catalogue import Ping, SyncStale
from gateway.events.outbox import emit, emit_many
from tests.events.support import create_endpoint, scalar


class Boom(Exception):
    pass


async def test_a_rolled_back_change_emits_nothing(runtime, client, tenants) -> None:
    t = await tenants.create()
    await create_endpoint(client, t.headers, "http://127.0.0.1:9/hook")

    async def change_then_fail() -> None:
        async with runtime.db.unit_of_work() as session:
            await session.execute(text("UPDATE tenants SET name = 'changed' WHERE id = :id"), {"id": t.tenant_id})
            await emit(session, t.tenant_id, "ping", Ping())
            raise Boom

    with pytest.raises(Boom):
        await change_then_fail()
    assert await scalar(runtime, "SELECT count(*) FROM events") == 0
    assert await scalar(runtime, "SELECT count(*) FROM event_deliveries") == 0
    assert await scalar(runtime, "SELECT name FROM tenants WHERE id = :id", id=t.tenant_id) != "changed"


async def test_a_committed_change_writes_the_event_and_one_delivery_per_subscribed_endpoint(
    runtime, client, tenants
) -> None:
    t, other = await tenants.create(), await tenants.create()
    everything = await create_endpoint(client, t.headers, "http://127.0.0.1:9/all")
    syncs = await create_endpoint(client, t.headers, "http://127.0.0.1:9/syncs", event_types=["sync.stale"])
    await create_endpoint(client, t.headers, "http://127.0.0.1:9/imports", event_types=["import.failed"])
    await create_endpoint(client, t.headers, "http://127.0.0.1:9/off", enabled=False)
    await create_endpoint(client, other.headers, "http://127.0.0.1:9/other-tenant")
    data = SyncStale(sync="beneficiary.full", frequency="daily", last_success_at=None, freshness="late", sync_url="/x")
    async with runtime.db.unit_of_work() as session:
        event_id = await emit(session, t.tenant_id, "sync.stale", data)
    async with runtime.db.engine.connect() as conn:
        endpoints = set(
            (await conn.execute(text("SELECT endpoint_id FROM event_deliveries WHERE event_id = :e"), {"e": event_id}))
            .scalars()
            .all()
        )
        body = (await conn.execute(text("SELECT body FROM events WHERE id = :e"), {"e": event_id})).scalar_one()
    assert endpoints == {uuid.UUID(everything["id"]), uuid.UUID(syncs["id"])}
    assert b'"type":"sync.stale"' in body and str(event_id).encode() in body


async def test_emit_refuses_a_payload_of_another_type(runtime, tenants, client) -> None:
    t = await tenants.create()
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(TypeError):
            await emit(session, t.tenant_id, "sync.stale", Ping())


async def test_emit_many_writes_each_event_for_its_tenant_and_subscribers_in_one_statement(
    runtime, client, tenants
) -> None:
    t, other = await tenants.create(), await tenants.create()
    everything = await create_endpoint(client, t.headers, "http://127.0.0.1:9/all")
    syncs = await create_endpoint(client, t.headers, "http://127.0.0.1:9/syncs", event_types=["sync.stale"])
    elsewhere = await create_endpoint(client, other.headers, "http://127.0.0.1:9/other-tenant")
    data = SyncStale(sync="beneficiary.full", frequency="daily", last_success_at=None, freshness="late", sync_url="/x")
    statements: list[str] = []
    async with runtime.db.engine.begin() as conn:

        def seen(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(conn.sync_connection, "before_cursor_execute", seen)
        ids = await emit_many(
            conn, [(t.tenant_id, "sync.stale", data), (t.tenant_id, "ping", Ping()), (other.tenant_id, "ping", Ping())]
        )
        event.remove(conn.sync_connection, "before_cursor_execute", seen)
    assert len(statements) == 1
    async with runtime.db.engine.connect() as conn:
        fanned = (
            await conn.execute(
                text(
                    "SELECT e.id, e.tenant_id, e.type, d.endpoint_id"
                    " FROM events e JOIN event_deliveries d ON d.event_id = e.id"
                )
            )
        ).all()
        bodies = dict((await conn.execute(text("SELECT id, body FROM events"))).tuples().all())
    assert sorted((str(i), str(tenant), kind, str(endpoint)) for i, tenant, kind, endpoint in fanned) == sorted(
        [
            (str(ids[0]), str(t.tenant_id), "sync.stale", everything["id"]),
            (str(ids[0]), str(t.tenant_id), "sync.stale", syncs["id"]),
            (str(ids[1]), str(t.tenant_id), "ping", everything["id"]),
            (str(ids[2]), str(other.tenant_id), "ping", elsewhere["id"]),
        ]
    )
    assert all(str(i).encode() in bodies[i] for i in ids)


async def test_emit_many_rolls_back_with_the_change(runtime, client, tenants) -> None:
    t = await tenants.create()
    await create_endpoint(client, t.headers, "http://127.0.0.1:9/hook")

    async def emit_then_fail() -> None:
        async with runtime.db.unit_of_work() as session:
            await emit_many(session, [(t.tenant_id, "ping", Ping())] * 3)
            raise Boom

    with pytest.raises(Boom):
        await emit_then_fail()
    assert await scalar(runtime, "SELECT count(*) FROM events") == 0
    assert await scalar(runtime, "SELECT count(*) FROM event_deliveries") == 0
