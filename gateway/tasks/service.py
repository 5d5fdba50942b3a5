"""Creating, reading and cancelling tasks. Services never commit; the caller's unit of work does."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.errors import Conflict, NotFound
from gateway.pagination import PageParams, paginate
from gateway.queue import enqueue_after_commit
from gateway.tasks.models import FINISHED, Task, TaskStatus

DEFAULT_MAX_ATTEMPTS = 5


async def create_task(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    kind: str,
    params: dict[str, Any] | None = None,
    subject_id: str | None = None,
    trigger: str = "manual",
    dedup_key: str | None = None,
    parent_id: uuid.UUID | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    run_after: datetime | None = None,
) -> tuple[Task, bool]:
    """Insert a queued task and enqueue it once the transaction commits.

    With a ``dedup_key``, at most one task exists per (tenant, kind, key): a second call
    returns the existing one and ``created=False`` (e.g. one scheduled import per day).
    """
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "kind": kind,
        "params": params or {},
        "subject_id": subject_id,
        "trigger": trigger,
        "dedup_key": dedup_key,
        "parent_id": parent_id,
        "max_attempts": max_attempts,
        "status": TaskStatus.queued,
        "counters": {},
        "result": {},
    }
    if run_after is not None:
        values["run_after"] = run_after
    # RETURNING the entity: one round trip for the common path (no conflict). The statements are
    # built once: building and hashing a fresh one per call cost as much as running it.
    stmt = _INSERT if dedup_key is None else _INSERT_DEDUPLICATED
    task = (await session.scalars(stmt, values)).one_or_none()
    if task is None:
        existing = (
            await session.scalars(
                select(Task).where(Task.tenant_id == tenant_id, Task.kind == kind, Task.dedup_key == dedup_key)
            )
        ).one()
        return existing, False
    enqueue_after_commit(session, task.id, task.dispatches, run_after)
    return task, True


_INSERT = insert(Task).returning(Task)
_INSERT_DEDUPLICATED = (
    insert(Task).on_conflict_do_nothing(index_elements=["tenant_id", "kind", "dedup_key"]).returning(Task)
)


# ``create_task`` with a ``dedup_key``, for many tasks of one tenant and kind, as SQL for a
# statement that writes the tasks together with the rows they work on (``WITH task AS (...)``):
# the rows it inserts, as the ORM insert would write them, none for a key the tenant already has
# a task of that kind for. Takes the parameters of ``deduplicated_tasks_params``; returns
# ``id``, ``dedup_key`` and ``dispatches`` of the tasks it made.
DEDUPLICATED_TASKS_INSERT = """
    INSERT INTO tasks (id, tenant_id, kind, params, subject_id, trigger, dedup_key, max_attempts, status,
        progress_done, counters, result, attempt, dispatches, cancel_requested, created_at, updated_at)
    SELECT t.id, :task_tenant_id, :task_kind, t.params, t.subject_id, :task_trigger, t.dedup_key, :task_max_attempts,
        'queued', 0, '{}', '{}', 0, 0, false, now(), now()
    FROM unnest(CAST(:task_ids AS uuid[]), CAST(:task_params AS jsonb[]), CAST(:task_subject_ids AS text[]),
        CAST(:task_dedup_keys AS text[])) AS t(id, params, subject_id, dedup_key)
    ON CONFLICT (tenant_id, kind, dedup_key) DO NOTHING
    RETURNING id, dedup_key, dispatches
"""
# The tasks the tenant already had for those keys (``id``, ``dedup_key``; the same parameters). In
# the statement that runs ``DEDUPLICATED_TASKS_INSERT``, its snapshot sees only those.
EXISTING_TASKS = """
    SELECT id, dedup_key FROM tasks
    WHERE tenant_id = :task_tenant_id AND kind = :task_kind AND dedup_key = ANY(CAST(:task_dedup_keys AS text[]))
"""


class DeduplicatedTask(msgspec.Struct, frozen=True):
    """One task of ``deduplicated_tasks_params``."""

    params: dict[str, Any]
    subject_id: str | None
    dedup_key: str


def deduplicated_tasks_params(
    *,
    tenant_id: uuid.UUID,
    kind: str,
    trigger: str,
    tasks: list[DeduplicatedTask],
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> dict[str, Any]:
    """The parameters of ``DEDUPLICATED_TASKS_INSERT`` (a new id for each task). Whoever runs it
    enqueues (or runs) the tasks it returns, once that statement committed."""
    return {
        "task_tenant_id": tenant_id,
        "task_kind": kind,
        "task_trigger": trigger,
        "task_max_attempts": max_attempts,
        "task_ids": [uuid.uuid4() for _ in tasks],
        "task_params": [json.dumps(t.params) for t in tasks],
        "task_subject_ids": [t.subject_id for t in tasks],
        "task_dedup_keys": [t.dedup_key for t in tasks],
    }


async def get_task(session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Task:
    task = await session.get(Task, task_id, populate_existing=True)
    # Another tenant's task is indistinguishable from a missing one.
    if task is None or task.tenant_id != tenant_id:
        raise NotFound(f"Task {task_id} does not exist.")
    return task


async def list_tasks(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    kind: str | None = None,
    kind_prefix: str | None = None,
    status: TaskStatus | None = None,
    subject_id: str | None = None,
    trigger: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> tuple[list[Task], str | None]:
    stmt = select(Task).where(Task.tenant_id == tenant_id)
    if kind:
        stmt = stmt.where(Task.kind == kind)
    if kind_prefix:
        stmt = stmt.where(Task.kind.startswith(kind_prefix))
    if status:
        stmt = stmt.where(Task.status == status)
    if subject_id:
        stmt = stmt.where(Task.subject_id == subject_id)
    if trigger:
        stmt = stmt.where(Task.trigger == trigger)
    if created_from:
        stmt = stmt.where(Task.created_at >= created_from)
    if created_to:
        stmt = stmt.where(Task.created_at < created_to)
    return await paginate(session, stmt, page, order_by=[Task.created_at, Task.id])


async def cancel_task(session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Task:
    """Queued tasks are cancelled at once; running ones at their worker's next heartbeat."""
    task = await get_task(session, tenant_id, task_id)
    if task.status in FINISHED:
        raise Conflict(f"Task {task_id} already finished as {task.status}.", extra={"task_status": task.status})
    task.cancel_requested = True
    if task.status == TaskStatus.queued:
        task.status = TaskStatus.cancelled
        task.finished_at = utcnow()
        task.error_code = "cancelled"
        task.error = "cancelled on request"
    await session.flush()
    return task


async def requeue_task(session: AsyncSession, task: Task, *, reset_attempts: bool = True) -> Task:
    """Run a finished task again (a replay, a retry asked by a person)."""
    if task.status in (TaskStatus.queued, TaskStatus.running):
        raise Conflict(f"Task {task.id} is {task.status}; it cannot be run again until it finishes.")
    await session.execute(
        update(Task)
        .where(Task.id == task.id)
        .values(
            status=TaskStatus.queued,
            run_after=utcnow(),
            dispatches=Task.dispatches + 1,
            attempt=0 if reset_attempts else Task.attempt,
            cancel_requested=False,
            finished_at=None,
            error=None,
            error_code=None,
            updated_at=utcnow(),
        )
    )
    await session.refresh(task)
    enqueue_after_commit(session, task.id, task.dispatches)
    return task


async def count_by_kind(
    session: AsyncSession, tenant_id: uuid.UUID, *, status: TaskStatus, since: datetime
) -> dict[str, int]:
    """How many of the tenant's tasks finished in ``status`` since ``since``, per kind (the
    console's health overview)."""
    stmt = (
        select(Task.kind, func.count())
        .where(Task.tenant_id == tenant_id, Task.status == status, Task.created_at >= since)
        .group_by(Task.kind)
    )
    return {str(kind): int(n) for kind, n in (await session.execute(stmt)).all()}
