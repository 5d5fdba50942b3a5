"""Console sessions: sign-in with a tenant or the operator key, cookies, CSRF, expiry,
sign-out, and tenant scoping (another tenant's id answers 404)."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.console.session import SESSION_COOKIE, SESSION_MAX_AGE
from gateway.pagination import PageParams
from gateway.runtime import Runtime
from gateway.tasks import service
from gateway.tenants import service as tenants_service
from tests.conftest import OPERATOR_KEY
from tests.console.helpers import csrf_token, post_form, sign_in
from tests.factories import TenantFactory


async def test_pages_need_a_session(console: Any) -> None:
    r = await console.get("/console/tasks")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in"
    # HTMX polls are sent to the sign-in page as a whole, not swapped into the fragment.
    r = await console.get("/console/", headers={"hx-request": "true"})
    assert r.headers["hx-redirect"] == "/console/sign-in"


async def test_tenant_key_signs_in_with_a_strict_httponly_cookie(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create("acme")
    r = await sign_in(console, t.key)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attrs
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attrs  # loopback http is development
    assert t.key not in cookie
    page = await console.get("/console/")
    assert page.status_code == 200
    assert "Acme" in page.text
    await console.post("/console/sign-out", data={"_csrf_token": csrf_token(page.text)})


async def test_unknown_key_is_refused(console: Any) -> None:
    r = await sign_in(console, "ponte_not-a-key")
    assert r.status_code == 401
    assert "unknown or revoked" in r.text
    assert (await console.get("/console/")).status_code == 303


async def test_post_without_csrf_token_is_refused(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    page = await console.get("/console/sign-in")
    r = await console.post("/console/sign-in", data={"key": t.key})
    assert r.status_code == 403
    # A token that is not the cookie's is refused too.
    token = csrf_token(page.text)
    r = await console.post("/console/sign-in", data={"key": t.key, "_csrf_token": token[:-4] + "AAAA"})
    assert r.status_code == 403
    assert (await console.get("/console/")).status_code == 303


async def test_sign_out_ends_the_session_server_side(console: Any, tenants: TenantFactory, runtime: Runtime) -> None:
    t = await tenants.create()
    r = await sign_in(console, t.key)
    session_id = console.cookies.get(SESSION_COOKIE)
    assert session_id
    # Sessions expire: the server keeps each for at most SESSION_MAX_AGE after its last use.
    ttl = await runtime.queue.redis.ttl(f"ponte:console{session_id}")
    ttl = ttl if ttl > 0 else await runtime.queue.redis.ttl(f"ponte:console:{session_id}")
    assert 0 < ttl <= SESSION_MAX_AGE
    r = await post_form(console, "/console/sign-out")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in"
    # Replaying the old cookie gets nothing: the server forgot the session.
    console.cookies.set(SESSION_COOKIE, session_id, domain="testserver.local", path="/console")
    assert (await console.get("/console/")).status_code == 303


async def test_sign_in_issues_a_new_session_id(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    console.cookies.set(SESSION_COOKIE, "planted-by-someone-else", domain="testserver.local", path="/console")
    await sign_in(console, t.key)
    assert console.cookies.get(SESSION_COOKIE) != "planted-by-someone-else"
    await post_form(console, "/console/sign-out")


async def test_another_tenants_task_answers_404(console: Any, tenants: TenantFactory, runtime: Runtime) -> None:
    mine, theirs = await tenants.create(), await tenants.create()
    async with runtime.db.unit_of_work(runtime.queue) as session:
        task, _ = await service.create_task(session, tenant_id=theirs.tenant_id, kind="system.echo")
    await sign_in(console, mine.key)
    r = await console.get(f"/console/tasks/{task.id}")
    assert r.status_code == 404
    assert "another tenant" in r.text
    r = await console.get(f"/console/tasks/{task.id}/progress")
    assert r.status_code == 404
    await post_form(console, "/console/sign-out")
    await sign_in(console, theirs.key)
    assert (await console.get(f"/console/tasks/{task.id}")).status_code == 200
    await post_form(console, "/console/sign-out")


async def test_operator_picks_a_tenant(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create("pharma")
    r = await sign_in(console, OPERATOR_KEY)
    assert r.headers["location"] == "/console/tenants"
    # Until a tenant is picked, tenant pages send the operator to the picker.
    assert (await console.get("/console/tasks")).headers["location"] == "/console/tenants"
    r = await post_form(console, f"/console/tenants/{t.tenant_id}", page="/console/tenants")
    assert r.status_code == 303
    page = await console.get("/console/")
    assert "Pharma" in page.text
    await post_form(console, "/console/sign-out")


async def test_tenant_key_cannot_open_the_tenant_picker(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    await sign_in(console, t.key)
    assert (await console.get("/console/tenants")).status_code == 404
    await post_form(console, "/console/sign-out")


async def test_a_nul_in_a_console_parameter_is_a_400_not_a_500(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    await sign_in(console, t.key)
    r = await console.get("/console/policies", params={"q": "12\x0034"})
    assert r.status_code == 400
    await post_form(console, "/console/sign-out")


async def _revoke(client: Any, operator_headers: dict[str, str], tenant_id: Any) -> None:
    keys = (await client.get(f"/v1/tenants/{tenant_id}/keys", headers=operator_headers)).json()["items"]
    r = await client.delete(f"/v1/tenants/{tenant_id}/keys/{keys[0]['id']}", headers=operator_headers)
    assert r.status_code == 204


async def test_revoking_the_key_ends_its_console_sessions(
    console: Any, tenants: TenantFactory, operator_headers: dict[str, str]
) -> None:
    t = await tenants.create()
    await sign_in(console, t.key)
    assert (await console.get("/console/")).status_code == 200
    session_id = console.cookies.get(SESSION_COOKIE)
    await _revoke(console, operator_headers, t.tenant_id)
    # The next request, a page or an HTMX poll, is sent to sign in, and the session is gone.
    r = await console.get("/console/tasks", headers={"hx-request": "true"})
    assert r.headers["hx-redirect"] == "/console/sign-in"
    console.cookies.set(SESSION_COOKIE, session_id, domain="testserver.local", path="/console")
    r = await console.get("/console/")
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
    assert (await sign_in(console, t.key)).status_code == 401  # and the key cannot sign in again


async def test_a_revocation_elsewhere_ends_sessions_within_the_api_key_cache_ttl(
    console: Any, tenants: TenantFactory, runtime: Runtime
) -> None:
    """Another gateway process revokes: this one's API and console both hold the cached answer
    until the cache's TTL, then both refuse. One bound for both."""
    cache = console.app.state.key_cache
    t = await tenants.create()
    ttl, cache.ttl = cache.ttl, 3600.0
    try:
        await sign_in(console, t.key)
        assert (await console.get("/console/")).status_code == 200
        assert (await console.get("/v1/tasks", headers=t.headers)).status_code == 200
        async with runtime.db.unit_of_work(runtime.queue) as session:
            keys, _ = await tenants_service.list_api_keys(session, t.tenant_id, PageParams(limit=1))
            await tenants_service.revoke_api_key(session, t.tenant_id, keys[0].id)
        assert (await console.get("/console/")).status_code == 200  # still cached, as for the API:
        assert (await console.get("/v1/tasks", headers=t.headers)).status_code == 200
        cache.clear()  # the TTL runs out
        assert (await console.get("/v1/tasks", headers=t.headers)).status_code == 401
        r = await console.get("/console/")
        assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
    finally:
        cache.ttl = ttl
        cache.clear()


async def test_a_new_operator_key_ends_operator_sessions(console: Any, tenants: TenantFactory) -> None:
    t = await tenants.create()
    await sign_in(console, OPERATOR_KEY)
    await post_form(console, f"/console/tenants/{t.tenant_id}", page="/console/tenants")
    assert (await console.get("/console/")).status_code == 200
    state = console.app.state
    settings = state.settings
    try:
        state.settings = msgspec.structs.replace(settings, operator_key=settings.operator_key + "-rotated")
        r = await console.get("/console/")
        assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
    finally:
        state.settings = settings
