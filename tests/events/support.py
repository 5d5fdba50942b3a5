"""Outbound events in tests: endpoints registered through the API, the sandbox receiver as the
tenant's system, and a real dispatcher running in the test's event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
from sqlalchemy import text

from gateway.events.dispatcher import Dispatcher
from gateway.runtime import Runtime


async def create_endpoint(
    client: Any, headers: dict[str, str], url: str, *, event_types: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/v1/event-endpoints", json={"url": url, "event_types": event_types or [], **extra}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def receiver(sandbox_url: str, name: str | None = None, **config: Any) -> str:
    """Configure a sandbox receiver; returns the URL events are posted to."""
    name = name or f"r-{uuid.uuid4().hex[:10]}"
    r = httpx.put(f"{sandbox_url}/receiver/_receivers/{name}", json=config)
    assert r.status_code == 200, r.text
    return f"{sandbox_url}/receiver/{name}"


def configure(url: str, **config: Any) -> None:
    base, name = url.rsplit("/", 1)
    r = httpx.put(f"{base}/_receivers/{name}", json=config)
    assert r.status_code == 200, r.text


def received(url: str) -> list[dict[str, Any]]:
    base, name = url.rsplit("/", 1)
    return httpx.get(f"{base}/_receivers/{name}/received").json()["items"]  # type: ignore[no-any-return]


def with_settings(runtime: Runtime, **changes: Any) -> Runtime:
    """The same database and queue, other settings (a dispatcher with its own knobs)."""
    return dataclasses.replace(runtime, settings=msgspec.structs.replace(runtime.settings, **changes))


@asynccontextmanager
async def dispatching(runtime: Runtime, **settings: Any) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(with_settings(runtime, **settings) if settings else runtime).start()
    try:
        yield dispatcher
    finally:
        await dispatcher.stop(timeout=10)


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def scalar(runtime: Runtime, sql: str, **params: Any) -> Any:
    async with runtime.db.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def delivery_counts(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT status, count(*) FROM event_deliveries GROUP BY status"))).all()
    return {r[0]: r[1] for r in rows}


async def all_delivered(runtime: Runtime, expected: int) -> bool:
    return (await delivery_counts(runtime)).get("succeeded", 0) >= expected
