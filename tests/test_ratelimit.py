"""Per-tenant rate limits (gateway/ratelimit.py), counted in the real Valkey."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from arq.connections import ArqRedis
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.openapi import render_spec
from gateway.queue import Queue
from gateway.ratelimit import Counter, reserve_for
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.tenants import service
from sandbox.server import free_port
from tests.conftest import OPERATOR_KEY
from tests.factories import TenantFactory

WINDOW = 3600  # a window opens with the first request, so none closes during a test


@pytest.fixture
async def limited(settings: Settings, runtime: Runtime) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    tight = msgspec.structs.replace(
        settings, rate_limit_window_seconds=WINDOW, rate_limit_reads=3, rate_limit_writes=2, rate_limit_intake=2
    )
    async with AsyncTestClient(app=create_app(tight)) as c:
        yield c


def assert_throttled(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    problem = response.json()
    assert (problem["type"], problem["status"]) == ("urn:ponte:problem:rate-limited", 429)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(response.headers["retry-after"]) <= WINDOW
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"


async def test_reads_writes_and_intake_have_separate_budgets(limited, operator_headers) -> None:
    tenants = TenantFactory(limited, operator_headers)
    t, other = await tenants.create(), await tenants.create()
    for _ in range(3):
        assert (await limited.get("/v1/me", headers=t.headers)).status_code == 200
    assert_throttled(await limited.get("/v1/me", headers=t.headers), 3)
    assert (await limited.get("/v1/me", headers=other.headers)).status_code == 200  # per tenant

    endpoints = []
    for _ in range(2):  # reads exhausted, writes still have their own budget
        r = await limited.post("/v1/webhook-endpoints", json={"source": "task-system"}, headers=t.headers)
        assert r.status_code == 201, r.text
        endpoints.append(r.json()["id"])
    assert_throttled(await limited.post("/v1/webhook-endpoints", json={"source": "x"}, headers=t.headers), 2)

    # Intake is counted per endpoint, before the signature: junk uses up that endpoint's budget only.
    junk = {"content-type": "application/json"}
    for _ in range(2):
        assert (await limited.post(f"/v1/webhooks/{endpoints[0]}", content=b"{}", headers=junk)).status_code < 429
    assert_throttled(await limited.post(f"/v1/webhooks/{endpoints[0]}", content=b"{}", headers=junk), 2)
    assert (await limited.post(f"/v1/webhooks/{endpoints[1]}", content=b"{}", headers=junk)).status_code < 429

    # Operators and health checks are not limited.
    for _ in range(5):
        assert (await limited.get("/v1/tenants", headers=operator_headers)).status_code == 200
        assert (await limited.get("/health/live")).status_code == 200


@pytest.fixture
def two_gateways(settings: Settings) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PONTE_OPERATOR_KEY": OPERATOR_KEY,
        "PONTE_SECRET_KEY": settings.secret_key,
        "PONTE_LOG_LEVEL": "WARNING",
        "PONTE_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
        "PONTE_RATE_LIMIT_READS": "4",
    }
    ports = [free_port(), free_port()]
    cmd = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory", "--no-access-log"]
    procs = [
        subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", str(p)], env=env)  # noqa: S603
        for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url in urls:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, f"{url} did not start"
                    time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def test_two_gateway_processes_share_one_budget(runtime: Runtime, two_gateways: list[str]) -> None:
    async with runtime.db.unit_of_work() as session:
        tenant = await service.create_tenant(session, name="Shared", slug="shared-budget")
        _, key = await service.create_api_key(session, tenant.id, name="t")
    headers = {"Authorization": f"Bearer {key}"}
    a, b = two_gateways
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        for url in (a, b, a, b):
            assert (await http.get(f"{url}/v1/me")).status_code == 200
        assert_throttled(await http.get(f"{a}/v1/me"), 4)
        assert_throttled(await http.get(f"{b}/v1/me"), 4)


def test_the_spec_documents_429_where_a_budget_applies() -> None:
    spec = json.loads(render_spec())
    paths = spec["paths"]
    for path, method in (("/v1/me", "get"), ("/v1/webhook-endpoints", "post"), ("/v1/webhooks/{endpoint_id}", "post")):
        response = paths[path][method]["responses"]["429"]
        assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(response["headers"])
    assert "429" not in paths["/health/live"]["get"]["responses"]


async def test_requests_pass_while_valkey_cannot_be_reached(limited, operator_headers) -> None:
    t = await TenantFactory(limited, operator_headers).create()
    for _ in range(3):
        await limited.get("/v1/me", headers=t.headers)
    assert (await limited.get("/v1/me", headers=t.headers)).status_code == 429
    state = limited.app.state
    queue = state.queue
    state.queue = Queue(ArqRedis(host="127.0.0.1", port=free_port()))  # nothing listens there
    try:
        assert (await limited.get("/v1/me", headers=t.headers)).status_code == 200  # fails open
    finally:
        await state.queue.close()
        state.queue = queue
    assert (await limited.get("/v1/me", headers=t.headers)).status_code == 429


async def test_concurrent_checks_share_round_trips_and_count_exactly(runtime: Runtime) -> None:
    redis = runtime.queue.redis
    round_trips = 0
    commands = 0
    pipeline = redis.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal round_trips
        round_trips += 1
        pipe = pipeline(*args, **kwargs)
        send = pipe.execute

        async def execute(*a: Any, **k: Any) -> Any:
            nonlocal commands
            commands += len(pipe.command_stack)
            return await send(*a, **k)

        pipe.execute = execute
        return pipe

    counter = Counter(redis)
    redis.pipeline = counted
    try:
        checks = [counter.hit("ponte:rl:test:shared", 60_000) for _ in range(50)]
        checks += [counter.hit("ponte:rl:test:other", 60_000) for _ in range(5)]
        answers = await asyncio.gather(*checks)
        assert (await counter.hit("ponte:rl:test:shared", 60_000))[0] == 51  # and alone afterwards
    finally:
        del redis.pipeline
    assert sorted(count for count, _ in answers[:50]) == list(range(1, 51))  # each hit counted once
    assert sorted(count for count, _ in answers[50:]) == list(range(1, 6))  # per key
    assert all(0 < left_ms <= 60_000 for _, left_ms in answers)
    assert round_trips <= 3  # not one per check
    assert commands <= 2 * round_trips + 1  # one command per key and round trip, not per check


async def test_a_reserve_saves_round_trips_and_keeps_one_budget_across_processes(runtime: Runtime) -> None:
    redis = runtime.queue.redis
    key = "ponte:rl:test:reserve"
    one, other = Counter(redis), Counter(redis)  # two gateway processes
    firsts = [(await one.hit(key, 60_000, reserve=10))[0] for _ in range(12)]
    seconds = [(await other.hit(key, 60_000, reserve=10))[0] for _ in range(3)]
    assert firsts == list(range(1, 13))  # 1-10 taken at once, then 11-20
    assert seconds == [21, 22, 23]  # never a count the other process holds
    assert int(await redis.get(key)) == 30  # three round trips for fifteen hits
    # Reserved but unused counts are never admitted elsewhere, so the budget is never exceeded.
    assert reserve_for(4) == 1 and reserve_for(6000) == 60 and reserve_for(10**9) == 1000


async def test_a_reserve_ends_with_its_window(runtime: Runtime) -> None:
    counter = Counter(runtime.queue.redis)
    key = "ponte:rl:test:short"
    assert (await counter.hit(key, 300, reserve=10))[0] == 1
    await asyncio.sleep(0.4)  # the window closed in Valkey and locally
    count, left_ms = await counter.hit(key, 300, reserve=10)
    assert count == 1 and 0 < left_ms <= 300


async def test_a_count_from_the_reserve_is_spent_without_a_coroutine(settings: Settings, runtime: Runtime) -> None:
    """``RateLimit.spend`` answers from the process's reserve at once (None: nothing to await),
    and refuses at once when that count is over the budget; only a count Valkey must give
    is an awaitable."""
    from types import SimpleNamespace

    from gateway.ratelimit import RateLimit, TooManyRequests

    tenant = str(uuid.uuid4())
    app = SimpleNamespace(state=SimpleNamespace(settings=settings, queue=runtime.queue))
    scope: Any = {"app": app}
    limit = RateLimit()
    roomy = ("reads", tenant, 20_000)  # reserves 200 counts at a time
    first = limit.spend(scope, roomy)
    assert first is not None  # nothing reserved yet: Valkey counts it
    await first
    assert [limit.spend(scope, roomy) for _ in range(9)] == [None] * 9  # counts 2-10, from the reserve
    # The same key under a budget count 11 is over: refused at once, with the usual headers.
    with pytest.raises(TooManyRequests) as refused:
        limit.spend(scope, ("reads", tenant, 10))
    assert refused.value.headers["RateLimit-Limit"] == "10"
    assert [limit.spend(scope, roomy) for _ in range(189)] == [None] * 189  # counts 12-200
    again = limit.spend(scope, roomy)
    assert again is not None  # the reserve is used up: Valkey again
    await again
    assert int(await runtime.queue.redis.get(f"ponte:rl:reads:{tenant}")) == 400  # two round trips


async def test_a_tenants_requests_are_admitted_from_the_reserve_up_to_the_budget(
    settings: Settings, runtime: Runtime
) -> None:
    """``RateLimit.check`` admits a tenant's request from the reserve without recomputing its
    budget, never past the limit (a reserve may hold counts above it: those are refused with
    the usual answer), on the budget its method spends, and rereads limits for another app."""
    from types import SimpleNamespace

    from gateway.ratelimit import RateLimit, TooManyRequests
    from gateway.tenants.auth import Principal

    tenant = uuid.uuid4()
    redis = runtime.queue.redis
    roomy = msgspec.structs.replace(settings, rate_limit_window_seconds=WINDOW, rate_limit_reads=1000)  # reserve 10
    app = SimpleNamespace(state=SimpleNamespace(settings=roomy, queue=runtime.queue))
    user = Principal(tenant_id=tenant, key_id=uuid.uuid4())

    def scope(method: str, on: Any = app) -> Any:
        return {"app": on, "user": user, "method": method, "path": "/v1/tasks"}

    await redis.set(f"ponte:rl:reads:{tenant}", 990, ex=WINDOW)  # other processes spent 990
    limit = RateLimit()
    first = limit.check(scope("GET"))
    assert first is not None  # nothing reserved yet: Valkey counts it (991) and reserves 992-1000
    await first
    assert [limit.check(scope("GET")) for _ in range(9)] == [None] * 9  # 992-1000: no round trip
    assert int(await redis.get(f"ponte:rl:reads:{tenant}")) == 1000
    over = limit.check(scope("GET"))
    assert over is not None  # the reserve is spent: Valkey counts 1001 (and reserves up to 1010)
    with pytest.raises(TooManyRequests) as refused:
        await over
    assert refused.value.headers["RateLimit-Limit"] == "1000"
    with pytest.raises(TooManyRequests):  # 1002, from the reserve, is over too: refused at once
        limit.check(scope("GET"))
    # Writes spend their own budget, and another app's settings are read afresh.
    writes = limit.check(scope("POST"))
    assert writes is not None
    await writes
    assert int(await redis.get(f"ponte:rl:writes:{tenant}")) == reserve_for(roomy.rate_limit_writes)
    other = Principal(tenant_id=uuid.uuid4(), key_id=uuid.uuid4())
    await limit.check({**scope("GET"), "user": other})  # counts 1-10 for another tenant: 2-10 reserved
    unlimited = SimpleNamespace(state=SimpleNamespace(settings=msgspec.structs.replace(roomy, rate_limit_reads=0)))
    assert limit.check(scope("GET", unlimited)) is None
    assert limit.check(scope("GET", unlimited)) is None
    assert int(await redis.get(f"ponte:rl:reads:{tenant}")) == 1010  # nothing counted with the budget off
    tight = SimpleNamespace(state=SimpleNamespace(settings=msgspec.structs.replace(roomy, rate_limit_reads=1)))
    with pytest.raises(TooManyRequests):
        limit.check(scope("GET", tight))
    with pytest.raises(TooManyRequests):  # the other tenant's count 2, from its reserve, is over this app's 1
        limit.check({**scope("GET", tight), "user": other})
