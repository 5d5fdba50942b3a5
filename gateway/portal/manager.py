"""The sync manager: run now (one run at a time), schedules, freshness and run history.

A run is a foundation task of kind ``portal.sync`` whose subject is the sync key.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.errors import Conflict, FieldError, NotFound, Unprocessable
from gateway.pagination import PageParams, paginate
from gateway.portal import connection as core_connection
from gateway.portal import state as sync_state
from gateway.portal.catalogue import SYNCS, SyncDefinition
from gateway.portal.models import SyncFailure, SyncState
from gateway.runtime import Runtime
from gateway.tasks import service as tasks_service
from gateway.tasks.models import Task, TaskStatus

log = structlog.get_logger("ponte.portal")

SYNC_TASK = "portal.sync"
PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
DAILY_OR_MORE = frozenset({"hourly", "daily"})
OK_STATUSES = (TaskStatus.succeeded, TaskStatus.partially_succeeded)
ACTIVE = (TaskStatus.queued, TaskStatus.running)


def lookup(key: str) -> SyncDefinition:
    try:
        return SYNCS[key]
    except KeyError:
        raise NotFound(f"No sync {key!r} in the catalogue (GET /v1/portal/syncs lists them).") from None


async def start_run(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    key: str,
    *,
    trigger: str = "manual",
    dedup_key: str | None = None,
    params: dict[str, Any] | None = None,
) -> Task:
    """Create the sync's run, or 409: naming the run already queued or running, or saying why
    the sync is unavailable on this core system's edition (``sync_unavailable_for_edition``)."""
    sync = lookup(key)
    connection = await core_connection.require_ready(session, tenant_id)
    unavailable = core_connection.unavailable_reason(sync, connection)
    if unavailable is not None:
        raise Conflict(unavailable, extra={"code": core_connection.UNAVAILABLE, "edition": connection.edition})
    state = await sync_state.ensure(session, tenant_id, key, lock=True)  # serialises concurrent starts
    if state.current_task_id is not None:
        current = await session.get(Task, state.current_task_id, populate_existing=True)
        if current is not None and current.status in ACTIVE:
            raise Conflict(
                f"Sync {key} is already {current.status} as task {current.id}; one run at a time per sync.",
                extra={"running_task_id": str(current.id)},
            )
    task, _ = await tasks_service.create_task(
        session, tenant_id=tenant_id, kind=SYNC_TASK, params={"sync": key, **(params or {})}, subject_id=key,
        trigger=trigger, dedup_key=dedup_key,
    )  # fmt: skip
    await sync_state.set_current_task(session, state, task.id)
    return task


async def set_schedule(
    session: AsyncSession, tenant_id: uuid.UUID, key: str, *, frequency: str, acknowledge_heavy: bool
) -> SyncState:
    sync = lookup(key)
    if sync.heavy and frequency in DAILY_OR_MORE and not acknowledge_heavy:
        raise Unprocessable(
            f"{sync.title} is a large sync the core system's vendor advises against running daily "
            f"(recommended: {sync.recommended_schedule}). Send acknowledge_heavy: true to schedule it {frequency}.",
            errors=[
                FieldError(pointer="/acknowledge_heavy", detail="must be true for a heavy sync run daily or hourly")
            ],
        )
    state = await sync_state.ensure(session, tenant_id, key, lock=True)
    state.frequency = frequency
    state.heavy_acknowledged = bool(acknowledge_heavy and sync.heavy and frequency in DAILY_OR_MORE)
    state.schedule_updated_at = utcnow()
    state.last_tick_at = None  # the first run is due at once
    await session.flush()
    return state


def tick_start(now: datetime, frequency: str) -> datetime:
    """Start of the schedule period ``now`` falls in (UTC hours, days, ISO weeks)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    if frequency == "hourly":
        return hour
    day = hour.replace(hour=0)
    return day if frequency == "daily" else day - timedelta(days=day.weekday())


def freshness(frequency: str, last_success: datetime | None, since: datetime | None, now: datetime) -> str:
    """``late`` once one scheduled run is missed, ``error`` after two; on-demand syncs are never late."""
    period = PERIODS.get(frequency)
    reference = last_success or since
    if period is None or reference is None:
        return "on_demand" if period is None else "fresh"
    age = now - reference
    return "error" if age > 2 * period else "late" if age > period else "fresh"


async def start_due_runs(runtime: Runtime, now: datetime | None = None) -> list[uuid.UUID]:
    """Start every scheduled sync whose current period has no run yet; returns the tasks made.

    Called by a worker cron every minute. A sync whose run is still going counts as run for
    the period; a tenant whose core system is not ready is skipped until it is.
    """
    now = now or utcnow()
    async with runtime.db.sessionmaker() as session:
        due = (await session.execute(select(SyncState.tenant_id, SyncState.sync_key, SyncState.frequency)
                                     .where(SyncState.frequency.in_(list(PERIODS))))).all()  # fmt: skip
    started: list[uuid.UUID] = []
    for tenant_id, key, frequency in due:
        if key not in SYNCS:
            continue
        tick = tick_start(now, frequency)
        async with runtime.db.unit_of_work(runtime.queue) as session:
            state = await sync_state.ensure(session, tenant_id, key, lock=True)
            if state.frequency != frequency or (state.last_tick_at is not None and state.last_tick_at >= tick):
                continue
            try:
                task = await start_run(session, tenant_id, key, trigger="scheduled",
                                       dedup_key=f"schedule:{key}:{tick.isoformat()}")  # fmt: skip
            except Conflict as exc:
                if "running_task_id" not in exc.extra:
                    log.info("scheduled_sync_skipped", tenant_id=str(tenant_id), sync=key, reason=exc.detail)
                    continue
            else:
                started.append(task.id)
            state.last_tick_at = tick
    return started


async def last_runs(session: AsyncSession, tenant_id: uuid.UUID, *, succeeded: bool) -> dict[str, Task]:
    stmt = (
        select(Task)
        .where(Task.tenant_id == tenant_id, Task.kind == SYNC_TASK)
        .distinct(Task.subject_id)
        .order_by(Task.subject_id, Task.created_at.desc())
    )
    if succeeded:
        stmt = stmt.where(Task.status.in_(OK_STATUSES))
    return {t.subject_id: t for t in (await session.scalars(stmt)).all() if t.subject_id}


async def states(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, SyncState]:
    rows = await session.scalars(select(SyncState).where(SyncState.tenant_id == tenant_id))
    return {s.sync_key: s for s in rows.all()}


async def list_runs(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    sync: str | None = None,
    group: str | None = None,
    direction: str | None = None,
    status: TaskStatus | None = None,
    trigger: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> tuple[list[Task], str | None]:
    stmt = select(Task).where(Task.tenant_id == tenant_id, Task.kind == SYNC_TASK)
    if sync:
        stmt = stmt.where(Task.subject_id == sync)
    if group or direction:
        keys = [s.key for s in SYNCS.values() if group in (None, s.group) and direction in (None, s.direction)]
        stmt = stmt.where(Task.subject_id.in_(keys))
    for column, value in ((Task.status, status), (Task.trigger, trigger)):
        if value:
            stmt = stmt.where(column == value)
    if created_from:
        stmt = stmt.where(Task.created_at >= created_from)
    if created_to:
        stmt = stmt.where(Task.created_at < created_to)
    return await paginate(session, stmt, page, order_by=[Task.created_at, Task.id])


async def get_run(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Task:
    task = await session.get(Task, run_id, populate_existing=True)
    if task is None or task.tenant_id != tenant_id or task.kind != SYNC_TASK:
        raise NotFound(f"Sync run {run_id} does not exist.")
    return task


async def list_failures(
    session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, page: PageParams
) -> tuple[list[SyncFailure], str | None]:
    await get_run(session, tenant_id, run_id)
    stmt = select(SyncFailure).where(SyncFailure.tenant_id == tenant_id, SyncFailure.task_id == run_id)
    return await paginate(session, stmt, page, order_by=[SyncFailure.id], descending=False)


async def count_failures(session: AsyncSession, run_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).where(SyncFailure.task_id == run_id)) or 0)
