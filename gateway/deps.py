"""Dependencies shared by every domain's routes: the unit of work, the caller, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pagination import provide_page_params
from gateway.tenants.auth import provide_tenant_id


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed after the handler returns and before the
    response is sent; tasks created during the request are enqueued only after that commit.
    Reads (GET/HEAD) skip the transaction: nothing to commit, two round trips saved.

    One flat generator that does no I/O before its ``yield``: the connection is taken by the
    first statement. When a sibling dependency fails (a bad ``limit``, an operator key on a
    tenant route), Litestar abandons this generator before the handler runs, and the garbage
    collector closes it later from another task. Holding a connection at that point leaked
    it ("non-checked-in connection"), and a nested context manager made the two finalizers
    race ("aclose(): asynchronous generator is already running").
    """
    state = request.app.state
    db = state.db
    if request.method in ("GET", "HEAD"):
        session = db.read_sessionmaker()
        try:
            yield session
        finally:
            await session.close()
        return
    session = db.sessionmaker()
    try:
        yield session
        await db.commit(session, state.queue)
    finally:
        await session.close()  # rolls back whatever was not committed


# Dependencies read the app's state through the request: a ``state: State`` parameter makes
# Litestar build a new State (with its lock) for every request that asks for one.


def provide_settings(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.settings


def provide_runtime(request: Request[Any, Any, Any]) -> Any:
    """Settings, database, queue, credential cipher and the shared partner HTTP client."""
    return request.app.state.runtime


dependencies: dict[str, Provide] = {
    "session": Provide(provide_db_session),
    "tenant_id": Provide(provide_tenant_id, sync_to_thread=False),
    "page": Provide(provide_page_params, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "runtime": Provide(provide_runtime, sync_to_thread=False),
}


async def _resolve_in_order(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    try:
        for batch in self.dependency_batches:
            for dependency in batch:
                await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    except BaseException as exc:
        # Close what already started (the request's session) now, in this task.
        await cleanup_group.close(exc)
        raise
    return cleanup_group


def resolve_dependencies_in_order() -> None:
    """Resolve each request's dependencies one after the other, in the request's own task.

    Litestar resolves the dependencies of one level concurrently, in an anyio task group
    (litestar-org/litestar#4563). Ponte's are a lazy session and plain values, so that buys
    nothing and costs about 55 us per request: a handler taking ``session`` and ``tenant_id``
    paid more for its task group than for its whole middleware stack. And when one dependency
    failed, the ones already started were left to the garbage collector; here they are closed
    before the error is answered.
    """
    KwargsModel.resolve_dependencies = _resolve_in_order  # type: ignore[method-assign]
