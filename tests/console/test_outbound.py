"""Webhooks, outbound, through the console's own requests: an endpoint added with its secret
shown once, disabled and enabled, pinged; the ping in the sent events with its status per
endpoint; sending it again; bad input answered readably; another tenant's ids answer 404."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.console.helpers import csrf_token, post_form, sign_in
from tests.factories import TenantFactory

HTMX = {"hx-request": "true"}
RECEIVER = "http://127.0.0.1:9/receiver/crm"  # nothing listens: deliveries stay on their way


async def _post(console: Any, path: str, data: dict[str, Any] | None = None) -> Any:
    token = csrf_token((await console.get("/console/webhooks/outbound")).text)
    return await console.post(path, data=data or {}, headers={**HTMX, "x-csrftoken": token})


async def _add(console: Any, url: str = RECEIVER, **extra: Any) -> tuple[str, str]:
    r = await _post(console, "/console/webhooks/outbound", {"url": url, "description": "CRM", **extra})
    assert r.status_code == 200, r.text
    secret = re.search(r'id="endpoint-secret">(whsec_[^<]+)<', r.text)
    endpoint = re.search(r'id="outbound-([0-9a-f-]{36})"', r.text)
    assert secret and endpoint, r.text
    return endpoint.group(1), secret.group(1)


async def test_endpoint_added_with_its_secret_shown_once(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    await sign_in(console, t.key)
    endpoint_id, secret = await _add(console, event_types=["ping", "import.failed"])
    page = await console.get("/console/webhooks/outbound")
    assert page.status_code == 200
    assert RECEIVER in page.text and f"outbound-{endpoint_id}" in page.text
    assert secret not in page.text  # shown once
    # The same endpoint the API sees, with the ticked types.
    api = (await console.get(f"/v1/event-endpoints/{endpoint_id}", headers=t.headers)).json()
    assert api["event_types"] == ["import.failed", "ping"] and api["description"] == "CRM"
    await post_form(console, "/console/sign-out")


async def test_disable_enable_and_ping(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    await sign_in(console, t.key)
    endpoint_id, _ = await _add(console)
    r = await _post(console, f"/console/webhooks/outbound/{endpoint_id}/disable")
    assert 'data-enabled="false"' in r.text and 'data-action="enable"' in r.text
    r = await _post(console, f"/console/webhooks/outbound/{endpoint_id}/test")
    assert r.headers["hx-retarget"] == "#flash" and "disabled" in r.text  # refused, said in the page
    r = await _post(console, f"/console/webhooks/outbound/{endpoint_id}/enable")
    assert 'data-enabled="true"' in r.text
    r = await _post(console, f"/console/webhooks/outbound/{endpoint_id}/test")
    event_id = re.search(r"/console/webhooks/messages/([0-9a-f-]{36})", r.text)
    assert event_id, r.text

    listing = await console.get("/console/webhooks/messages", params={"endpoint_id": endpoint_id})
    assert listing.status_code == 200
    assert event_id.group(1) in listing.text and "<code>ping</code>" in listing.text
    detail = await console.get(f"/console/webhooks/messages/{event_id.group(1)}")
    assert detail.status_code == 200
    # Nothing listens there: pending (or being tried, when the browser tests' worker runs).
    assert re.search(r'data-status="(pending|sending)"', detail.text) and "/log" in detail.text  # refreshes
    assert "&#34;type&#34;: &#34;ping&#34;" in detail.text  # the body as sent, escaped
    # On its way already: sending it again to the same endpoint is refused, readably.
    r = await _post(console, f"/console/webhooks/messages/{event_id.group(1)}/retry", {"endpoint_id": endpoint_id})
    assert r.headers["hx-retarget"] == "#flash" and "already on its way" in r.text
    r = await _post(console, f"/console/webhooks/messages/{event_id.group(1)}/retry")
    assert "No failed delivery" in r.text and 'id="message-log"' in r.text
    await post_form(console, "/console/sign-out")


async def test_bad_input_is_a_readable_error_never_a_500(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    await sign_in(console, t.key)
    for form, says in (
        ({"url": "not a url"}, "http(s) URL"),
        ({"url": "ftp://127.0.0.1/x"}, "http(s) URL"),
        ({"url": "http://10.1.2.3/hooks"}, "private"),
        ({"url": RECEIVER, "description": "x" * 501}, "too long"),
        ({"url": RECEIVER, "event_types": "no.such.type"}, "event types"),
    ):
        r = await _post(console, "/console/webhooks/outbound", form)
        assert r.status_code == 200 and r.headers["hx-retarget"] == "#flash", (form, r.text)
        assert says in r.text, (form, r.text)
    # Without HTMX, the same refusal is an error page.
    token = csrf_token((await console.get("/console/webhooks/outbound")).text)
    r = await console.post("/console/webhooks/outbound", data={"url": "nope", "_csrf_token": token})
    assert r.status_code == 422 and "http(s) URL" in r.text
    endpoint_id, _ = await _add(console)
    event = await _post(console, f"/console/webhooks/outbound/{endpoint_id}/test")
    event_id = re.search(r"/console/webhooks/messages/([0-9a-f-]{36})", event.text).group(1)  # type: ignore[union-attr]
    r = await _post(console, f"/console/webhooks/messages/{event_id}/retry", {"endpoint_id": "not-a-uuid"})
    assert r.headers["hx-retarget"] == "#flash"
    for params in ({"status": "bogus"}, {"endpoint_id": "zzz"}, {"type": "\u00e9"}, {"cursor": "bad"}):
        r = await console.get("/console/webhooks/messages", params=params)
        assert r.status_code < 500, (params, r.status_code)
    await post_form(console, "/console/sign-out")


async def test_another_tenants_endpoint_and_event_answer_404(console: Any, tenants: TenantFactory) -> None:
    theirs, mine = await tenants.create(), await tenants.create()
    await sign_in(console, theirs.key)
    endpoint_id, _ = await _add(console)
    r = await _post(console, f"/console/webhooks/outbound/{endpoint_id}/test")
    event_id = re.search(r"/console/webhooks/messages/([0-9a-f-]{36})", r.text).group(1)  # type: ignore[union-attr]
    await post_form(console, "/console/sign-out")

    await sign_in(console, mine.key)
    assert (await console.get(f"/console/webhooks/messages/{event_id}")).status_code == 404
    assert (await console.get(f"/console/webhooks/messages/{event_id}/log")).status_code == 404
    for action in ("test", "disable", "enable"):
        r = await _post(console, f"/console/webhooks/outbound/{endpoint_id}/{action}")
        assert r.headers["hx-retarget"] == "#flash" and "does not exist" in r.text
    r = await _post(console, f"/console/webhooks/messages/{event_id}/retry")
    assert r.headers["hx-retarget"] == "#flash"
    listing = await console.get("/console/webhooks/messages", params={"endpoint_id": endpoint_id})
    assert event_id not in listing.text
    assert (await console.get(f"/console/webhooks/messages/{uuid.uuid4()}")).status_code == 404
    await post_form(console, "/console/sign-out")
