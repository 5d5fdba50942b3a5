"""Test fixtures: a real PostgreSQL and a real Valkey for the session, schema from migrations.

With DATABASE_URL / REDIS_URL set, the tests use those servers instead (CI with services).
Each test starts from empty tables and an empty queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
import structlog.testing
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway import observability
from gateway.app import create_app
from gateway.db.base import Base
from gateway.embedded import EmbeddedServices
from gateway.observability import add_request_id
from gateway.runtime import Runtime
from gateway.settings import Settings, load_settings
from sandbox.server import SandboxServer
from tests.cli_support import api_over_asgi  # noqa: F401 - a fixture for CLI tests
from tests.factories import TenantFactory
from tests.loopback import LOOPBACK_ALLOW, guard_name_resolution

OPERATOR_KEY = "op-test-key"

# `ponte` commands read .ponte/env for unset variables; a developer's running `ponte dev` must
# not leak into the tests through it.
os.environ["PONTE_DATA_DIR"] = tempfile.mkdtemp(prefix="ponte-test-data-")
# No test asks the machine's (non-loopback) DNS about a name: see tests/loopback.py.
guard_name_resolution()


@pytest.fixture(scope="session")
def backing_services() -> Iterator[tuple[str, str]]:
    services = EmbeddedServices()
    urls = services.start(database_url=os.environ.get("DATABASE_URL", ""), redis_url=os.environ.get("REDIS_URL", ""))
    from gateway import migrate

    migrate.upgrade(urls[0])
    yield urls
    services.stop()


@pytest.fixture(scope="session")
def settings(backing_services: tuple[str, str]) -> Settings:
    database_url, redis_url = backing_services
    return load_settings(
        {},
        database_url=database_url,
        redis_url=redis_url,
        operator_key=OPERATOR_KEY,
        secret_key="test-secret",
        task_lease_seconds=2.0,
        task_retry_base_seconds=0.05,
        sweep_grace_seconds=0.5,
        event_retry_schedule="0,0.2,0.4,0.8",
        event_poll_seconds=0.2,
        event_breaker_cooldown_seconds=0.5,
        event_lease_seconds=5.0,
        event_attempt_timeout_seconds=3.0,
        api_key_cache_seconds=0.0,
        log_format="console",
        log_level="WARNING",
        egress_allow=LOOPBACK_ALLOW,
        # Limits far above what any test sends; tests/test_ratelimit.py sets its own.
        rate_limit_reads=1_000_000,
        rate_limit_writes=1_000_000,
        rate_limit_intake=1_000_000,
        egress_allow_http=True,
    )


@pytest.fixture(scope="session")
async def session_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = await Runtime.start(settings)
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def session_client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as c:
        yield c


async def reset_state(runtime: Runtime) -> None:
    """Empty every table and the queue: each test starts from nothing.

    The session's app keeps working between tests (the outbound-event dispatcher, a delivery
    the last test started), so the TRUNCATE can meet its row locks in another order and lose a
    deadlock: PostgreSQL cancels one side, and the reset is tried again.
    """
    for attempt in range(5):
        try:
            async with runtime.db.engine.begin() as conn:
                existing = set(
                    (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars()
                )
                tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name in existing)
                await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
            break
        except DBAPIError as exc:
            if "deadlock detected" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.1)
    await runtime.queue.redis.flushall()


@pytest.fixture
async def runtime(session_runtime: Runtime) -> Runtime:
    await reset_state(session_runtime)
    return session_runtime


@pytest.fixture
async def client(session_client: AsyncTestClient[Litestar], runtime: Runtime) -> AsyncTestClient[Litestar]:
    return session_client


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """One real partner sandbox on loopback for the whole session (see sandbox/)."""
    server = SandboxServer().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox_faults(sandbox: SandboxServer) -> Iterator[str]:
    """The sandbox URL; fault injection set during the test is cleared after it."""
    yield sandbox.url
    httpx.delete(f"{sandbox.url}/_faults/")


@pytest.fixture
async def live_gateway(settings: Settings, runtime: Runtime) -> AsyncIterator[tuple[str, Litestar]]:
    """A gateway served by uvicorn as ``ponte api`` serves it, on loopback, in the test's own
    event loop (so its pool and its generators can be inspected); yields its URL and app."""
    import asyncio

    import uvicorn

    from gateway.server import server_options
    from sandbox.server import free_port

    app = create_app(settings)
    port = free_port()
    options = server_options() | {"loop": "asyncio"}  # the test's loop is already running
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the gateway did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def request_log() -> Iterator[list[dict[str, Any]]]:
    """Every structlog entry, INFO included, as dicts (the per-request lines among them)."""
    level = observability.LOG_LEVEL
    observability.set_log_level(logging.INFO)
    try:
        processors = [structlog.contextvars.merge_contextvars, add_request_id]
        with structlog.testing.capture_logs(processors=processors) as entries:
            yield entries
    finally:
        observability.set_log_level(level)


@pytest.fixture
def operator_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {OPERATOR_KEY}"}


@pytest.fixture
def tenants(client: AsyncTestClient[Litestar], operator_headers: dict[str, str]) -> TenantFactory:
    return TenantFactory(client, operator_headers)


@pytest.fixture
async def worker(runtime: Runtime) -> Any:
    """Run the real arq worker in burst mode until the queue is empty."""
    from tests.workers_support import run_burst

    async def burst(**kwargs: Any) -> int:
        return await run_burst(runtime, **kwargs)

    return burst
