"""Per-(tenant, sync) state rows: created on first use, watermark moved forward only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.portal.models import SyncFailure, SyncState
from gateway.runtime import Runtime


async def ensure(session: AsyncSession, tenant_id: uuid.UUID, sync_key: str, *, lock: bool = False) -> SyncState:
    """The state row, created if missing; ``lock`` holds it until commit (one starter at a time)."""
    await session.execute(insert(SyncState).values(tenant_id=tenant_id, sync_key=sync_key).on_conflict_do_nothing())
    stmt = select(SyncState).where(SyncState.tenant_id == tenant_id, SyncState.sync_key == sync_key)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one()


async def read_watermark(runtime: Runtime, tenant_id: uuid.UUID, sync_key: str) -> datetime | None:
    async with runtime.db.sessionmaker() as session:
        return await session.scalar(
            select(SyncState.watermark).where(SyncState.tenant_id == tenant_id, SyncState.sync_key == sync_key)
        )


async def advance_watermark(session: AsyncSession, tenant_id: uuid.UUID, sync_key: str, mark: datetime) -> None:
    """Move the watermark to ``mark`` unless it is already past it. Call inside the
    transaction that stores the records the mark covers."""
    await session.execute(
        insert(SyncState)
        .values(tenant_id=tenant_id, sync_key=sync_key, watermark=mark)
        .on_conflict_do_update(
            index_elements=[SyncState.tenant_id, SyncState.sync_key],
            set_={"watermark": func.greatest(SyncState.watermark, mark), "updated_at": func.now()},
        )
    )


async def clear_failures(runtime: Runtime, task_id: uuid.UUID) -> None:
    """A new attempt recounts from scratch, so the previous attempt's failed records go."""
    async with runtime.db.unit_of_work() as session:
        await session.execute(delete(SyncFailure).where(SyncFailure.task_id == task_id))


async def set_current_task(session: AsyncSession, state: SyncState, task_id: uuid.UUID) -> None:
    await session.execute(
        update(SyncState)
        .where(SyncState.tenant_id == state.tenant_id, SyncState.sync_key == state.sync_key)
        .values(current_task_id=task_id, updated_at=func.now())
    )
