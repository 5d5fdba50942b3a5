"""The event endpoints and the operator API: validation, tenancy, retry and recover."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gateway.egress import EgressPolicy, parse_allowlist
from gateway.errors import Unprocessable
from gateway.events.transport import check_endpoint_url
from tests.events.support import all_delivered, configure, create_endpoint, dispatching, receiver, scalar, wait_until


async def test_event_types_are_listed_with_their_schemas_and_in_the_spec(client, tenants) -> None:
    t = await tenants.create()
    r = await client.get("/v1/event-types", headers=t.headers)
    assert r.status_code == 200
    types = {i["name"]: i for i in r.json()["items"]}
    for name in ("import.succeeded", "import.partially_succeeded", "import.failed", "sync.run.failed", "sync.stale",
                 "document.delivered", "document.delivery_failed", "reconciliation.remittance.returned",
                 "reconciliation.divergence.opened", "reconciliation.sale.expired", "reconciliation.daily_summary",
                 "inbound_event.failed", "endpoint.disabled", "ping"):  # fmt: skip
        assert name in types
        schema = types[name]["schema"]
        assert schema["properties"]["type"]["const"] == name
        assert set(schema["required"]) == {"id", "type", "version", "timestamp", "tenant_id", "data"}
    assert "failed_records" not in types["import.failed"]["schema"]["properties"]["data"]["properties"]
    spec = (await client.get("/docs/openapi.json")).json()
    assert set(spec["webhooks"]) == set(types)
    body = spec["webhooks"]["document.delivery_failed"]["post"]["requestBody"]["content"]["application/json"]
    assert "retry_url" in body["schema"]["properties"]["data"]["properties"]


async def test_registration_validates_url_and_types(client, tenants) -> None:
    t = await tenants.create()
    r = await client.post(
        "/v1/event-endpoints", json={"url": "ftp://x.example/h", "event_types": ["ping"]}, headers=t.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/url"
    r = await client.post(
        "/v1/event-endpoints",
        json={"url": "http://127.0.0.1:9/h", "event_types": ["ping", "nope.never"]},
        headers=t.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/event_types/1"
    r = await client.post("/v1/event-endpoints", json={"url": "http://u:p@127.0.0.1:9/h"}, headers=t.headers)
    assert r.status_code == 422


def stub_policy(
    answers: dict[str, list[str]], *, allow: tuple[str, ...] = (), allow_http: bool = False
) -> EgressPolicy:
    """The guard as production runs it, deciding on names a stub resolves: nothing is contacted."""

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return EgressPolicy(allow=parse_allowlist(allow), allow_http=allow_http, resolver=resolve)


NAMES = {
    "erp.example.com": ["93.184.216.34"],
    "intranet.example.com": ["10.20.0.5"],
    "metadata.example.com": ["169.254.169.254"],
    "local.example.com": ["127.0.0.1"],
}


@pytest.mark.parametrize(
    "url",
    [
        "http://erp.example.com/hook",  # https outside development
        "https://intranet.example.com/hook",
        "https://metadata.example.com/latest/meta-data",
        "https://local.example.com:8443/hook",
        "https://10.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
    ],
)
async def test_registration_refuses_what_the_egress_guard_refuses(url: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        await check_endpoint_url(url, stub_policy(NAMES))
    assert refused.value.errors and refused.value.errors[0].pointer == "/url"


async def test_registration_accepts_public_https_and_the_allowlist() -> None:
    assert await check_endpoint_url("https://erp.example.com/hook", stub_policy(NAMES))
    dev = stub_policy(NAMES, allow=("127.0.0.1:8090",), allow_http=True)
    assert await check_endpoint_url("http://local.example.com:8090/receiver/demo", dev)
    with pytest.raises(Unprocessable):  # the allowlist names a port, not the whole host
        await check_endpoint_url("http://local.example.com:8091/receiver/demo", dev)


async def test_the_api_answers_422_for_private_and_metadata_addresses(client, tenants) -> None:
    t = await tenants.create()
    for url in ("http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[fd00:ec2::254]/"):
        r = await client.post("/v1/event-endpoints", json={"url": url}, headers=t.headers)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["errors"][0]["pointer"] == "/url"


async def test_endpoint_lifecycle_and_the_secret_is_shown_once(client, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, "http://127.0.0.1:9/h", description="ERP", event_types=["ping"])
    r = await client.get(f"/v1/event-endpoints/{ep['id']}", headers=t.headers)
    assert r.status_code == 200 and "secret" not in r.json()
    r = await client.patch(
        f"/v1/event-endpoints/{ep['id']}", json={"event_types": [], "description": "all"}, headers=t.headers
    )
    assert (r.json()["event_types"], r.json()["description"]) == ([], "all")
    r = await client.post(f"/v1/event-endpoints/{ep['id']}/disable", headers=t.headers)
    assert r.json()["enabled"] is False
    r = await client.post(f"/v1/event-endpoints/{ep['id']}/test", headers=t.headers)
    assert r.status_code == 409
    r = await client.post(f"/v1/event-endpoints/{ep['id']}/enable", headers=t.headers)
    assert r.json()["enabled"] is True
    r = await client.get("/v1/event-endpoints", params={"enabled": True}, headers=t.headers)
    assert [e["id"] for e in r.json()["items"]] == [ep["id"]]
    r = await client.delete(f"/v1/event-endpoints/{ep['id']}", headers=t.headers)
    assert r.status_code == 204
    assert (await client.get(f"/v1/event-endpoints/{ep['id']}", headers=t.headers)).status_code == 404


async def test_another_tenants_endpoints_and_messages_answer_404(client, tenants) -> None:
    owner, intruder = await tenants.create(), await tenants.create()
    ep = await create_endpoint(client, owner.headers, "http://127.0.0.1:9/h")
    r = await client.post(f"/v1/event-endpoints/{ep['id']}/test", headers=owner.headers)
    assert r.status_code == 202
    event_id = r.json()["id"]
    h = intruder.headers
    base = f"/v1/event-endpoints/{ep['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"description": "x"}),
        ("DELETE", base, None),
        ("POST", f"{base}/enable", None),
        ("POST", f"{base}/disable", None),
        ("POST", f"{base}/rotate", {}),
        ("POST", f"{base}/test", None),
        ("POST", f"{base}/recover", {"since": "2026-01-01T00:00:00Z"}),
        ("GET", f"{base}/attempts", None),
        ("GET", f"/v1/event-messages/{event_id}", None),
        ("GET", f"/v1/event-messages/{event_id}/attempts", None),
        ("POST", f"/v1/event-messages/{event_id}/retry", {}),
        ("POST", f"/v1/event-messages/{event_id}/retry", {"endpoint_id": ep["id"]}),
    ]:
        r = await client.request(method, path, json=body, headers=h)
        assert r.status_code == 404, (method, path, r.status_code)
    assert (await client.get("/v1/event-messages", headers=h)).json()["items"] == []
    assert (await client.get("/v1/event-endpoints", headers=h)).json()["items"] == []


async def test_ping_retry_and_recover(runtime, client, tenants, sandbox) -> None:
    t = await tenants.create()
    url = receiver(sandbox.url)
    ep = await create_endpoint(client, t.headers, url)
    other = await create_endpoint(client, t.headers, "http://127.0.0.1:9/never", event_types=["import.failed"])
    configure(url, secrets=[ep["secret"]], down=True)
    since = datetime.now(UTC) - timedelta(seconds=5)
    pings = []
    for _ in range(3):
        r = await client.post(f"/v1/event-endpoints/{ep['id']}/test", headers=t.headers)
        assert r.status_code == 202
        assert [d["endpoint_id"] for d in r.json()["deliveries"]] == [ep["id"]]  # the ping goes to this one only
        pings.append(r.json()["id"])
    async with dispatching(runtime, event_retry_schedule="0", event_breaker_failures=100):

        async def failed() -> bool:
            return await scalar(runtime, "SELECT count(*) FROM event_deliveries WHERE status = 'failed'") == 3

        await wait_until(failed)
        r = await client.get("/v1/event-messages", params={"status": "failed"}, headers=t.headers)
        assert sorted(m["id"] for m in r.json()["items"]) == sorted(pings)
        r = await client.get(f"/v1/event-endpoints/{ep['id']}/attempts", params={"succeeded": False}, headers=t.headers)
        assert len(r.json()["items"]) == 3

        configure(url, secrets=[ep["secret"]])
        r = await client.post(f"/v1/event-messages/{pings[0]}/retry", json={}, headers=t.headers)
        assert (r.status_code, r.json()["deliveries"]) == (202, 1)
        await wait_until(lambda: all_delivered(runtime, 1))

        r = await client.post(
            f"/v1/event-endpoints/{ep['id']}/recover", json={"since": since.isoformat()}, headers=t.headers
        )
        assert (r.status_code, r.json()["recovered"]) == (202, 2)
        await wait_until(lambda: all_delivered(runtime, 3))

        # An endpoint that never had the event can be sent it on request.
        configure(url, secrets=[ep["secret"]])
        r = await client.post(
            f"/v1/event-messages/{pings[0]}/retry", json={"endpoint_id": other["id"]}, headers=t.headers
        )
        assert (r.status_code, r.json()["deliveries"]) == (202, 1)
    r = await client.get(f"/v1/event-messages/{pings[0]}", headers=t.headers)
    statuses = {d["endpoint_id"]: d["status"] for d in r.json()["deliveries"]}
    assert statuses[ep["id"]] == "succeeded" and other["id"] in statuses
    r = await client.get(f"/v1/event-messages/{pings[0]}/attempts", headers=t.headers)
    ours = [a for a in r.json()["items"] if a["endpoint_id"] == ep["id"]]
    assert sorted((a["attempt"], a["succeeded"]) for a in ours) == [(1, False), (2, True)]


async def test_messages_page_with_a_cursor_and_follow_oldest_first(runtime, client, tenants) -> None:
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers, "http://127.0.0.1:9/h")
    ids = []
    for _ in range(5):
        ids.append((await client.post(f"/v1/event-endpoints/{ep['id']}/test", headers=t.headers)).json()["id"])
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "order": "oldest"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/event-messages", params=params, headers=t.headers)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    r = await client.get("/v1/event-messages", params={"type": "import.failed"}, headers=t.headers)
    assert r.json()["items"] == []
    r = await client.get("/v1/event-messages", params={"endpoint_id": str(uuid.uuid4())}, headers=t.headers)
    assert r.json()["items"] == []
