"""Logs keep secrets out: every capability runs once, at DEBUG, with every log line captured
(structlog on stderr, stdlib records, the in-process worker's too), and no API key, ``whsec_``
secret, partner credential or token, or document byte may appear in what was written.

Outbound events run all the while: an event endpoint is created and rotated, and what the
capabilities emit is signed and sent to the tenant's receiver (the sandbox) by a real
dispatcher; neither the endpoint's secrets nor the signatures of its deliveries may be logged.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.observability import configure_logging
from gateway.settings import Settings
from tests.conftest import OPERATOR_KEY
from tests.documents.support import deliveries, document, enable_portal, firm, task_completed
from tests.events.support import configure, dispatching, received, receiver, scalar
from tests.events.support import create_endpoint as create_event_endpoint
from tests.events.support import wait_until as wait_for
from tests.portal.conftest import connect as connect_core
from tests.reconciliation.conftest import admin, boavista, relay  # noqa: F401 - fixtures used below
from tests.reconciliation.support import PLANTED_DAYS, at_local, today_local
from tests.webhooks.support import create_endpoint, deliver, envelope


async def run_imports(client, sandbox, t, secrets: list[str], worker) -> None:  # type: ignore[no-untyped-def]
    username, password = f"user-{uuid.uuid4().hex}", f"pw-{uuid.uuid4().hex}"
    secrets += [password, base64.b64encode(f"{username}:{password}".encode()).decode()]
    async with httpx.AsyncClient(base_url=sandbox.url) as admin_http:
        config = {"policies_per_insurer": 40, "password": password}
        (await admin_http.put("/insurers/_config/", json=config)).raise_for_status()
        try:
            for insurer, kind, options in (("allianz", "soap", {}), ("warta", "rest", {"product": "property"})):
                body = {
                    "insurer": insurer,
                    "credentials": {"username": username, "password": password},
                    "base_url": f"{sandbox.url}/insurers/{kind}/{insurer}",
                    "options": options,
                }
                conn = (await client.post("/v1/insurer-connections", json=body, headers=t.headers)).json()
                assert (await client.post(f"/v1/insurer-connections/{conn['id']}/test", headers=t.headers)).is_success
                today = datetime.now(UTC).date()
                period = {"from": (today - timedelta(days=5)).isoformat(), "to": today.isoformat()}
                r = await client.post(
                    f"/v1/insurer-connections/{conn['id']}/imports", json={"period": period}, headers=t.headers
                )
                assert r.status_code == 202, r.text
                # A wrong password too: the refusal is logged, the password it carried is not.
                wrong = {"credentials": {"username": username, "password": f"{password}-wrong"}}
                await client.patch(f"/v1/insurer-connections/{conn['id']}", json=wrong, headers=t.headers)
                assert (
                    await client.post(f"/v1/insurer-connections/{conn['id']}/test", headers=t.headers)
                ).status_code == 422
                secrets.append(f"{password}-wrong")
            await worker()
        finally:
            await admin_http.delete("/insurers/_config/")


async def run_portal_sync(client, sandbox, t, secrets: list[str], worker) -> None:  # type: ignore[no-untyped-def]
    token = f"sandbox-logs-{uuid.uuid4().hex}"
    secrets.append(token)
    core = f"{sandbox.url}/core"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as operator:
        (await operator.put(f"{core}/_config", json={"beneficiaries": 20, "providers": 5})).raise_for_status()
    await connect_core(client, t.headers, core, token)
    r = await client.post("/v1/portal/syncs/beneficiary.full/runs", headers=t.headers)
    assert r.status_code == 202, r.text
    await worker()


async def run_document_delivery(client, sandbox, t, runtime, secrets: list[str], worker) -> None:  # type: ignore[no-untyped-def]
    await enable_portal(client, sandbox.url, t)
    secrets.append(f"ptk_{firm(t)}")
    endpoint = await create_endpoint(client, t.headers, source="task-system")
    secrets.append(endpoint["secret"])
    content = f"%PDF-1.7 confidential payroll {uuid.uuid4().hex}".encode()
    secrets += [content.decode(), base64.b64encode(content).decode()]
    body = envelope("task.completed", task_completed([document("d1", content=content)]))
    assert (await deliver(client, endpoint, body)).status_code == 202
    # A forged delivery is refused and logged: the signature it carried is not the secret.
    forged = await client.post(
        f"/v1/webhooks/{endpoint['id']}",
        content=body,
        headers={"webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
    )
    assert forged.status_code >= 400
    await worker()
    assert [d.status for d in await deliveries(runtime, t)] == ["delivered"]


async def run_reconciliation(bv, runtime, secrets: list[str], worker) -> None:  # type: ignore[no-untyped-def]
    from gateway.db.base import utcnow
    from gateway.webhooks.models import WebhookEndpoint
    from gateway.webhooks.signing import active_secrets

    secrets.append(bv.token)
    await bv.enable()
    async with runtime.db.sessionmaker() as session:
        endpoint = await session.get_one(WebhookEndpoint, bv.endpoint_id)
    secrets += active_secrets(runtime.cipher, endpoint.secrets, now=utcnow())
    erp = await bv.erp_day(PLANTED_DAYS[-1])
    assert (await bv.post_sales(erp["items"])).status_code == 200
    await bv.run(at_local(today_local(), 12), worker)
    from tests.reconciliation.test_flow import remittance_ids

    [remittance_id] = await remittance_ids(runtime, bv.tenant.tenant_id)
    [answer] = await bv.deliver_returns(remittance_id, worker)
    assert answer.status_code == 202, answer.text


async def start_outbound_events(client, sandbox, t, secrets: list[str]) -> str:  # type: ignore[no-untyped-def]
    """An event endpoint for every event type, its secret rotated with a grace period (both sign),
    and a ping; returns the receiver's URL."""
    url = receiver(sandbox.url)
    endpoint = await create_event_endpoint(client, t.headers, url)
    r = await client.post(
        f"/v1/event-endpoints/{endpoint['id']}/rotate", json={"grace_seconds": 3600}, headers=t.headers
    )
    assert r.status_code == 200, r.text
    new_secret = r.json()["secret"]
    secrets += [endpoint["secret"], new_secret]
    configure(url, secrets=[new_secret])
    assert (await client.post(f"/v1/event-endpoints/{endpoint['id']}/test", headers=t.headers)).status_code == 202
    return url


async def finish_outbound_events(client, runtime, t, url: str, secrets: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Every delivery settled; then one refused by a receiver that lost its secrets (a 401, logged
    as a failed attempt). Every signature the receiver saw joins the secrets."""

    async def settled() -> bool:
        sql = "SELECT count(*) FROM event_deliveries WHERE status IN ('pending', 'sending')"
        return bool(await scalar(runtime, sql) == 0)

    await wait_for(settled)
    configure(url, secrets=[])
    [endpoint] = (await client.get("/v1/event-endpoints", headers=t.headers)).json()["items"]
    assert (await client.post(f"/v1/event-endpoints/{endpoint['id']}/test", headers=t.headers)).status_code == 202

    async def refused() -> bool:
        return any(item["status"] == 401 for item in received(url))

    await wait_for(refused)
    items = received(url)
    assert {i["status"] for i in items} >= {200, 401} and len(items) > 2
    for item in items:
        assert item["signatures"] == 2  # both secrets sign during the grace period
        secrets.append(item["signature"])
        secrets += [part.split(",", 1)[1] for part in item["signature"].split()]


@pytest.fixture
def debug_logs(settings: Settings, caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """Production's logging at its most verbose, restored afterwards."""
    configure_logging("DEBUG", "json")
    caplog.set_level(logging.DEBUG)
    yield caplog
    configure_logging(settings.log_level, settings.log_format)


async def test_no_secret_or_document_byte_is_logged(  # type: ignore[no-untyped-def]
    client,
    tenants,
    runtime,
    worker,
    sandbox,
    boavista,  # noqa: F811 - the fixture imported above
    debug_logs,
    capfd,
) -> None:
    t = await tenants.create(slug=f"logs-{uuid.uuid4().hex[:12]}")
    secrets = [t.key, OPERATOR_KEY]
    await client.get("/v1/tenants", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    async with dispatching(runtime):
        events = await start_outbound_events(client, sandbox, t, secrets)
        await run_imports(client, sandbox, t, secrets, worker)
        await run_portal_sync(client, sandbox, t, secrets, worker)
        await run_document_delivery(client, sandbox, t, runtime, secrets, worker)
        await run_reconciliation(boavista, runtime, secrets, worker)
        await finish_outbound_events(client, runtime, t, events, secrets)
    # A whsec_ secret is base64 behind its prefix: the key alone must not show either.
    secrets += [s.removeprefix("whsec_") for s in secrets if s.startswith("whsec_")]

    out, err = capfd.readouterr()
    logged = "\n".join([out, err, debug_logs.text, *(str(r.__dict__) for r in debug_logs.records)])
    assert "task_finished" in logged and "request" in logged  # the capture did see the logs
    leaked = [s for s in secrets if s and s in logged]
    assert leaked == []
    assert re.findall(r"whsec_[A-Za-z0-9+/=]{8,}", logged) == []
    assert re.findall(r"ponte_[A-Za-z0-9_\-]{16,}", logged) == []
