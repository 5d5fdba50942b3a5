"""A request's dependencies are resolved, and closed, in the request's own task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import get
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.errors import Conflict

events: list[tuple[str, asyncio.Task[Any] | None]] = []


async def opened() -> AsyncIterator[str]:
    events.append(("opened", asyncio.current_task()))
    try:
        yield "resource"
    finally:
        events.append(("closed", asyncio.current_task()))


def fails(first: str) -> str:
    raise Conflict("the second dependency fails after the first one started")


@get(
    "/two-dependencies",
    dependencies={"first": Provide(opened), "second": Provide(fails, sync_to_thread=False)},
    include_in_schema=False,
)
async def two_dependencies(first: str, second: str) -> None:
    raise AssertionError("not reached")


@pytest.fixture(scope="module")
async def app_with_dependencies(settings: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(settings)
    app.register(two_dependencies)
    async with AsyncTestClient(app=app) as c:
        yield c


async def test_a_dependency_that_fails_closes_the_ones_already_open_in_the_request(
    app_with_dependencies: AsyncTestClient[Any], operator_headers: dict[str, str]
) -> None:
    events.clear()
    r = await app_with_dependencies.get("/two-dependencies", headers=operator_headers)
    assert r.status_code == 409
    # Closed before the answer, by the request's task: not later by the garbage collector from
    # another task, which is how the request session used to leak its pooled connection.
    assert [name for name, _ in events] == ["opened", "closed"]
    assert events[0][1] is events[1][1]
