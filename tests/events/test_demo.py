"""``ponte dev``'s demo endpoint: the demo tenant's events reach the sandbox receiver, verified."""

from __future__ import annotations

import msgspec

from gateway.events.catalogue import Ping
from gateway.events.demo import register_demo_endpoint
from gateway.events.outbox import emit
from tests.events.support import all_delivered, dispatching, received, scalar, wait_until


async def test_the_demo_endpoint_is_registered_once_and_receives_verified_events(
    runtime, settings, client, tenants, sandbox
) -> None:
    t = await tenants.create("demo")
    dev = msgspec.structs.replace(settings, sandbox_url=sandbox.url)
    url = await register_demo_endpoint(dev)
    assert await register_demo_endpoint(dev) == url  # a second start reuses it
    assert await scalar(runtime, "SELECT count(*) FROM event_endpoints") == 1
    async with runtime.db.unit_of_work() as session:
        event_id = await emit(session, t.tenant_id, "ping", Ping())
    async with dispatching(runtime):
        await wait_until(lambda: all_delivered(runtime, 1))
    [item] = [i for i in received(url) if i["webhook_id"] == str(event_id)]
    assert (item["verified"], item["status"], item["type"]) == (True, 200, "ping")
