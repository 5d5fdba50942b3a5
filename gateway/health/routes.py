"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text


class Readiness(msgspec.Struct):
    status: str
    database: str
    queue: str


@get("/health/live", operation_id="Live", tags=["Operations"], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _check(coro: object) -> str:
    try:
        await asyncio.wait_for(coro, timeout=2.0)  # type: ignore[arg-type]
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


async def _db_ping(state: State) -> None:
    async with state.db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@get(
    "/health/ready",
    operation_id="Ready",
    tags=["Operations"],
    summary="Database and queue reachable (503 if not)",
    responses={503: ResponseSpec(Readiness, description="The database or the queue is down")},
)
async def ready(state: State) -> Response[Readiness]:
    database, queue = await asyncio.gather(_check(_db_ping(state)), _check(state.queue.ping()))
    ok = database == "ok" and queue == "ok"
    body = Readiness(status="ok" if ok else "unavailable", database=database, queue=queue)
    return Response(body, status_code=200 if ok else 503)


@get("/ping", operation_id="Ping", tags=["Operations"], summary="Trivial endpoint (benchmark ceiling)")
async def ping() -> dict[str, str]:
    return {"pong": "ok"}
