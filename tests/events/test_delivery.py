"""Delivery to a tenant's system (the sandbox receiver, verifying with the reference library)."""

from __future__ import annotations

import dataclasses
import uuid

from gateway.events import schemas, service
from gateway.events.catalogue import Ping
from gateway.events.dispatcher import Dispatcher
from gateway.events.outbox import emit
from tests.events.support import (
    all_delivered,
    configure,
    create_endpoint,
    delivery_counts,
    dispatching,
    received,
    receiver,
    scalar,
    wait_until,
)


async def emit_pings(runtime, tenant_id, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    async with runtime.db.unit_of_work() as session:
        return [str(await emit(session, tenant_id, "ping", Ping(message=f"n{i}"))) for i in range(n)]


async def test_every_delivery_verifies_with_the_reference_library_through_a_rotation(
    runtime, client, tenants, sandbox
) -> None:
    t = await tenants.create()
    url = receiver(sandbox.url)
    ep = await create_endpoint(client, t.headers, url)
    assert ep["secret"].startswith("whsec_") and ep["secrets_active"] == 1
    configure(url, secrets=[ep["secret"]])
    async with dispatching(runtime):
        first = await emit_pings(runtime, t.tenant_id, 3)
        await wait_until(lambda: all_delivered(runtime, 3))

        # Rotation with a grace period: the receiver still on the old secret verifies.
        r = await client.post(f"/v1/event-endpoints/{ep['id']}/rotate", json={"grace_seconds": 3600}, headers=t.headers)
        assert r.status_code == 200, r.text
        new_secret = r.json()["secret"]
        assert r.json()["previous_valid_until"] is not None
        during = await emit_pings(runtime, t.tenant_id, 3)
        await wait_until(lambda: all_delivered(runtime, 6))
        # ... and one that switched to the new secret verifies too.
        configure(url, secrets=[new_secret])
        switched = await emit_pings(runtime, t.tenant_id, 2)
        await wait_until(lambda: all_delivered(runtime, 8))

        # Once the old secret is retired, a receiver still using it rejects the signature.
        r = await client.post(f"/v1/event-endpoints/{ep['id']}/rotate", json={"grace_seconds": 0}, headers=t.headers)
        configure(url, secrets=[new_secret])
        after = await emit_pings(runtime, t.tenant_id, 1)

        async def attempted() -> bool:
            return await scalar(runtime, "SELECT count(*) FROM event_attempts") >= 9

        await wait_until(attempted)
    items = received(url)
    by_id = {i["webhook_id"]: i for i in items}
    assert set(first + during + switched) <= set(by_id)
    assert all(by_id[i]["verified"] and by_id[i]["status"] == 200 for i in first + during + switched)
    assert all(by_id[i]["signatures"] == 2 for i in during + switched)  # both secrets sign in the grace period
    assert by_id[after[0]]["verified"] is False and by_id[after[0]]["status"] == 401
    assert by_id[first[0]]["type"] == "ping"


async def test_retries_follow_the_schedule_then_fail(runtime, client, tenants, sandbox) -> None:
    t = await tenants.create()
    url = receiver(sandbox.url)
    ep = await create_endpoint(client, t.headers, url)
    configure(url, secrets=[ep["secret"]], down=True)
    schedule = runtime.settings.event_schedule  # shrunk in tests: 0, 0.2, 0.4, 0.8
    async with dispatching(runtime, event_breaker_failures=100):
        [event_id] = await emit_pings(runtime, t.tenant_id, 1)

        async def failed() -> bool:
            return (await delivery_counts(runtime)).get("failed", 0) == 1

        await wait_until(failed)
    r = await client.get(f"/v1/event-messages/{event_id}/attempts", headers=t.headers)
    attempts = sorted(r.json()["items"], key=lambda a: a["attempt"])
    assert [a["attempt"] for a in attempts] == list(range(1, len(schedule) + 1))
    assert all(a["status_code"] == 503 and not a["succeeded"] for a in attempts)
    assert all(a["response_body"] == '{"error":"injected"}' for a in attempts)
    from datetime import datetime

    times = [datetime.fromisoformat(a["attempted_at"]) for a in attempts]
    for n in range(1, len(times)):  # never earlier than the schedule allows (jitter is ±20%)
        assert (times[n] - times[n - 1]).total_seconds() >= schedule[n] * 0.8
    r = await client.get(f"/v1/event-messages/{event_id}", headers=t.headers)
    [delivery] = r.json()["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 4, 503)
    assert r.json()["payload"]["data"] == {"message": "n0"}


async def test_a_receiver_down_for_a_while_gets_every_event_once_back(runtime, client, tenants, sandbox) -> None:
    t = await tenants.create()
    url = receiver(sandbox.url)
    ep = await create_endpoint(client, t.headers, url)
    configure(url, secrets=[ep["secret"]], down=True)
    async with dispatching(runtime, event_retry_schedule="0,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3"):
        ids = await emit_pings(runtime, t.tenant_id, 30)

        async def some_failed_attempts() -> bool:
            return await scalar(runtime, "SELECT count(*) FROM event_attempts") >= 10

        await wait_until(some_failed_attempts)
        configure(url, secrets=[ep["secret"]])  # back up
        await wait_until(lambda: all_delivered(runtime, 30))
    items = received(url)
    accepted = [i["webhook_id"] for i in items if i["status"] == 200]
    assert sorted(accepted) == sorted(ids)  # every event arrived, each accepted once
    assert {i["webhook_id"] for i in items} == set(ids)  # every attempt carried its event's id
    assert all(i["verified"] for i in items)


async def test_a_slow_endpoint_does_not_hold_up_a_fast_one(runtime, client, tenants, sandbox) -> None:
    t = await tenants.create()
    slow_url, fast_url = receiver(sandbox.url), receiver(sandbox.url)
    slow = await create_endpoint(client, t.headers, slow_url)
    fast = await create_endpoint(client, t.headers, fast_url)
    configure(slow_url, secrets=[slow["secret"]], latency_ms=1500)
    configure(fast_url, secrets=[fast["secret"]])
    async with dispatching(runtime, event_endpoint_concurrency=4, event_max_in_flight=8):
        await emit_pings(runtime, t.tenant_id, 40)

        async def fast_done() -> bool:
            return (
                await scalar(
                    runtime,
                    "SELECT count(*) FROM event_deliveries WHERE endpoint_id = :e AND status = 'succeeded'",
                    e=uuid.UUID(fast["id"]),
                )
                == 40
            )

        await wait_until(fast_done)
        # 40 events at 4 at a time and 1.5 s each: the slow endpoint is far from done.
        slow_done = await scalar(
            runtime,
            "SELECT count(*) FROM event_deliveries WHERE endpoint_id = :e AND status = 'succeeded'",
            e=uuid.UUID(slow["id"]),
        )
        assert slow_done <= 12
        in_flight_max = await scalar(
            runtime,
            "SELECT count(*) FROM event_deliveries WHERE endpoint_id = :e AND status = 'sending'",
            e=uuid.UUID(slow["id"]),
        )
        assert in_flight_max <= 4  # its cap


async def test_an_endpoint_failing_too_long_is_disabled_and_the_others_hear_of_it(
    runtime, client, tenants, sandbox
) -> None:
    t = await tenants.create()
    dead_url, ok_url = receiver(sandbox.url), receiver(sandbox.url)
    dead = await create_endpoint(client, t.headers, dead_url)
    ok = await create_endpoint(client, t.headers, ok_url, event_types=["endpoint.disabled"])
    configure(dead_url, secrets=[dead["secret"]], down=True)
    configure(ok_url, secrets=[ok["secret"]])
    async with dispatching(runtime, event_disable_after_seconds=0.5, event_retry_schedule="0,0.3,0.3,0.3,0.3,0.3,0.3"):
        await emit_pings(runtime, t.tenant_id, 3)

        async def told() -> bool:
            return any(i["type"] == "endpoint.disabled" for i in received(ok_url))

        await wait_until(told)
    r = await client.get(f"/v1/event-endpoints/{dead['id']}", headers=t.headers)
    assert (r.json()["enabled"], r.json()["disabled_reason"]) == (False, "failing")
    assert r.json()["failing_since"] is not None
    r = await client.get("/v1/event-messages", params={"type": "endpoint.disabled"}, headers=t.headers)
    [message] = r.json()["items"]
    assert [d["endpoint_id"] for d in message["deliveries"]] == [ok["id"]]
    r = await client.get(f"/v1/event-messages/{message['id']}", headers=t.headers)
    assert r.json()["payload"]["data"]["endpoint_id"] == dead["id"]
    assert r.json()["payload"]["data"]["reason"] == "failing"


async def test_410_gone_disables_the_endpoint_at_once(runtime, client, tenants, sandbox) -> None:
    t = await tenants.create()
    url = receiver(sandbox.url)
    ep = await create_endpoint(client, t.headers, url)
    configure(url, secrets=[ep["secret"]], gone=True)
    async with dispatching(runtime):
        await emit_pings(runtime, t.tenant_id, 1)

        async def disabled() -> bool:
            return await scalar(runtime, "SELECT count(*) FROM event_endpoints WHERE NOT enabled") == 1

        await wait_until(disabled)
    r = await client.get(f"/v1/event-endpoints/{ep['id']}", headers=t.headers)
    assert (r.json()["enabled"], r.json()["disabled_reason"]) == (False, "gone")
    assert (await delivery_counts(runtime)) == {"failed": 1}  # no retries to a gone endpoint


def test_the_breaker_opens_after_failures_in_a_row_and_lets_one_probe_through_after_the_cooldown() -> None:
    from gateway.events.dispatcher import Breaker

    b = Breaker(threshold=3, cooldown=10.0)
    for _ in range(2):
        b.record(False, now=0.0)
    assert b.slots(8, now=0.0) == 8
    b.record(False, now=1.0)
    assert b.slots(8, now=5.0) == 0  # open
    assert b.slots(8, now=11.5) == 1  # half-open: one probe
    b.record(False, now=11.6)
    assert b.slots(8, now=12.0) == 0  # the probe failed: open again
    b.record(True, now=30.0)
    assert b.slots(8, now=30.0) == 8


async def test_the_breaker_holds_off_a_dead_endpoint_while_others_flow(runtime, client, tenants, sandbox) -> None:
    t = await tenants.create()
    dead_url, ok_url = receiver(sandbox.url), receiver(sandbox.url)
    dead = await create_endpoint(client, t.headers, dead_url)
    ok = await create_endpoint(client, t.headers, ok_url)
    configure(dead_url, secrets=[dead["secret"]], down=True)
    configure(ok_url, secrets=[ok["secret"]])
    knobs = {"event_endpoint_concurrency": 2, "event_breaker_failures": 3, "event_breaker_cooldown_seconds": 1.0}
    async with dispatching(runtime, **knobs):
        await emit_pings(runtime, t.tenant_id, 20)

        async def ok_done() -> bool:
            return (
                await scalar(
                    runtime,
                    "SELECT count(*) FROM event_deliveries WHERE endpoint_id = :e AND status = 'succeeded'",
                    e=uuid.UUID(ok["id"]),
                )
                == 20
            )

        await wait_until(ok_done)
        tried = await scalar(
            runtime, "SELECT count(*) FROM event_attempts WHERE endpoint_id = :e", e=uuid.UUID(dead["id"])
        )
        assert 3 <= tried <= 4  # two in flight when the third failure opened it; then nothing
        configure(dead_url, secrets=[dead["secret"]])  # back: the probe after the cooldown closes it
        await wait_until(lambda: all_delivered(runtime, 40))


async def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_connect_time(
    runtime, client, tenants
) -> None:
    """Registered while its name pointed somewhere allowed; by delivery time it points inside.
    The guard decides on a stub resolver's answer, so nothing is contacted."""
    from tests.events.test_api import stub_policy

    t = await tenants.create()
    at_registration = stub_policy({"rebind.example.com": ["93.184.216.34"]}, allow_http=True)
    at_delivery = stub_policy({"rebind.example.com": ["10.0.0.7"]}, allow_http=True)
    async with runtime.db.unit_of_work() as session:
        data = schemas.EventEndpointCreate(url="http://rebind.example.com/hook")
        endpoint, _ = await service.create_endpoint(session, runtime.cipher, at_registration, t.tenant_id, data)
        await emit(session, t.tenant_id, "ping", Ping())
    dispatcher = Dispatcher(dataclasses.replace(runtime, egress=at_delivery)).start()
    try:

        async def failed() -> bool:
            return (await delivery_counts(runtime)).get("failed", 0) == 1

        await wait_until(failed)
    finally:
        await dispatcher.stop()
    r = await client.get(f"/v1/event-endpoints/{endpoint.id}/attempts", headers=t.headers)
    [attempt] = r.json()["items"]  # refused for good: no retry can make it allowed
    assert attempt["status_code"] is None and attempt["error"].startswith("egress_refused")
