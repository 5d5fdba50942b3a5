"""Dependencies shared by every domain's routes: the unit of work, the caller, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pagination import provide_page_params
from gateway.tenants.auth import provide_tenant_id


async def provide_db_session(state: State, request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed after the handler returns and before the
    response is sent; tasks created during the request are enqueued only after that commit.
    Reads (GET/HEAD) skip the transaction: nothing to commit, two round trips saved."""
    if request.method in ("GET", "HEAD"):
        async with state.db.reader() as session:
            yield session
        return
    async with state.db.unit_of_work(state.queue) as session:
        yield session


def provide_settings(state: State) -> Any:
    return state.settings


def provide_runtime(state: State) -> Any:
    """Settings, database, queue, credential cipher and the shared partner HTTP client."""
    return state.runtime


dependencies: dict[str, Provide] = {
    "session": Provide(provide_db_session),
    "tenant_id": Provide(provide_tenant_id, sync_to_thread=False),
    "page": Provide(provide_page_params, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "runtime": Provide(provide_runtime, sync_to_thread=False),
}
