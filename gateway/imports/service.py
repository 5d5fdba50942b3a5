"""Launching import tasks and reading them back (history, results, CSV detail).

Every import is a foundation task of kind ``import.run`` whose ``subject_id`` is the
connection, so a connection's history is its tasks. ``params`` say what to read:

* ``mode="period"``: the policies changed in ``windows`` (the period cut to the insurer's
  maximum window), for the ``scheduled`` and ``manual_period`` triggers;
* ``mode="policy"``: today's state of one ``policy_number`` (``single_policy``, ``reimport``);
* ``mode="record"``: a record an insurer pushed (``real_time``), applied as it came.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import Conflict, FieldError, NotFound, Unprocessable
from gateway.imports import periods, preview, schemas
from gateway.imports.catalogue import INSURERS
from gateway.imports.connections import check_run_options, find_connection, get_connection
from gateway.imports.models import ImportResult, InsurerConnection, Policy, PolicySource
from gateway.pagination import PageParams, paginate
from gateway.runtime import Runtime
from gateway.tasks import service as tasks_service
from gateway.tasks.models import Task, TaskStatus
from gateway.tasks.schemas import Progress

KIND = "import.run"


async def create_import(
    session: AsyncSession,
    connection: InsurerConnection,
    *,
    trigger: str,
    params: dict[str, Any],
    dedup_key: str | None = None,
    parent_id: uuid.UUID | None = None,
) -> tuple[Task, bool]:
    params = {"connection_id": str(connection.id), "insurer": connection.insurer, **params}
    return await tasks_service.create_task(
        session, tenant_id=connection.tenant_id, kind=KIND, params=params, subject_id=str(connection.id),
        trigger=trigger, dedup_key=dedup_key, parent_id=parent_id,
    )  # fmt: skip


def period_params(start: date, end: date, max_days: int, **extra: Any) -> dict[str, Any]:
    windows = periods.split(start, end, max_days)
    return {
        "mode": "period",
        "period": [start.isoformat(), end.isoformat()],
        "windows": periods.windows_param(windows),
        **extra,
    }


async def launch_import(
    session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID, data: schemas.ImportCreate
) -> schemas.ImportLaunch:
    """A manual import of a period, or of one policy. A past period on an *as-of-period*
    insurer also creates tasks for the days after it, up to today (see ``periods``)."""
    connection = await get_connection(session, tenant_id, connection_id)
    if not connection.enabled:
        raise Conflict(f"Connection {connection_id} is disabled; enable it first.")
    insurer = INSURERS[connection.insurer]
    if sum(x is not None for x in (data.period, data.policy_number, data.preview_id)) != 1:
        raise Unprocessable(
            "Give one of a period, a policy number, or a preview.",
            errors=[FieldError(pointer="", detail="one of period, policy_number, preview_id")],
        )
    if data.policy_numbers is not None and data.preview_id is None:
        raise Unprocessable(
            "policy_numbers choose from a preview's list.",
            errors=[FieldError(pointer="/policy_numbers", detail="only with preview_id")],
        )
    if data.preview_id is not None:
        if data.options is not None:
            raise Unprocessable(
                "A preview's policies are imported as the preview read them.",
                errors=[FieldError(pointer="/options", detail="not with preview_id")],
            )
        params = await preview.selection_params(session, tenant_id, connection.id, data.preview_id, data.policy_numbers)
        task, _ = await create_import(session, connection, trigger="preview_selection", params=params)
        return schemas.ImportLaunch(task=to_import_task(task), chained=[], chain_reason=None)
    override = {"options": check_run_options(connection, data.options)} if data.options else {}
    if data.policy_number is not None:
        params = {"mode": "policy", "policy_number": data.policy_number, **override}
        task, _ = await create_import(session, connection, trigger="single_policy", params=params)
        return schemas.ImportLaunch(task=to_import_task(task), chained=[], chain_reason=None)
    assert data.period is not None
    today = periods.today_utc()
    periods.check_period(data.period.from_, data.period.to, today=today)
    params = period_params(data.period.from_, data.period.to, insurer.max_window_days, **override)
    task, _ = await create_import(session, connection, trigger="manual_period", params=params)
    chained = []
    for start, end in periods.chain_forward(insurer, data.period.to, today=today):
        extra = {"chained_from": str(task.id), **override}
        child, _ = await create_import(
            session,
            connection,
            trigger="manual_period",
            params=period_params(start, end, insurer.max_window_days, **extra),
            parent_id=task.id,
        )
        chained.append(to_import_task(child))
    reason = periods.chain_reason(insurer, data.period.to) if chained else None
    return schemas.ImportLaunch(task=to_import_task(task), chained=chained, chain_reason=reason)


async def reimport_policy(session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> schemas.ImportTask:
    """Read one stored policy again (seed 002, "Importuj bieżący stan polisy"), through the
    connection that read it last (its insurer's own, or the aggregator's)."""
    policy = await session.get(Policy, policy_id)
    if policy is None or policy.tenant_id != tenant_id:
        raise NotFound(f"Policy {policy_id} does not exist.")
    connection = await session.scalar(
        select(InsurerConnection)
        .join(PolicySource, PolicySource.connection_id == InsurerConnection.id)
        .where(PolicySource.tenant_id == tenant_id, PolicySource.insurer == policy.insurer,
               PolicySource.policy_number == policy.policy_number, InsurerConnection.enabled)
        .order_by(PolicySource.last_seen_at.desc())
        .limit(1)
    )  # fmt: skip
    connection = connection or await find_connection(session, tenant_id, policy.insurer)
    if connection is None:
        raise Conflict(f"No connection to {policy.insurer} to re-import from.")
    params = {"mode": "policy", "policy_number": policy.policy_number}
    task, _ = await create_import(session, connection, trigger="reimport", params=params)
    return to_import_task(task)


async def launch_preview(
    session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID, data: schemas.PreviewCreate
) -> Task:
    """An ``import.preview`` task: the insurer's list for the period, read and flagged, not imported."""
    connection = await get_connection(session, tenant_id, connection_id)
    if not connection.enabled:
        raise Conflict(f"Connection {connection_id} is disabled; enable it first.")
    periods.check_period(data.period.from_, data.period.to, today=periods.today_utc())
    override = {"options": check_run_options(connection, data.options)} if data.options else {}
    params = period_params(data.period.from_, data.period.to, INSURERS[connection.insurer].max_window_days)
    params = {"connection_id": str(connection.id), "insurer": connection.insurer, **params, **override}
    task, _ = await tasks_service.create_task(
        session, tenant_id=tenant_id, kind=preview.PREVIEW_KIND, params=params, subject_id=str(connection.id),
        trigger="preview",
    )  # fmt: skip
    return task


async def get_import(session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Task:
    task = await tasks_service.get_task(session, tenant_id, task_id)
    if task.kind != KIND:
        raise NotFound(f"Import {task_id} does not exist.")
    return task


async def list_imports(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    page: PageParams,
    *,
    status: TaskStatus | None,
    trigger: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
) -> tuple[list[Task], str | None]:
    """The connection's history, newest first."""
    await get_connection(session, tenant_id, connection_id)
    return await tasks_service.list_tasks(
        session, tenant_id, page, kind=KIND, subject_id=str(connection_id), status=status, trigger=trigger,
        created_from=created_from, created_to=created_to,
    )  # fmt: skip


async def list_results(
    session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID, page: PageParams, outcome: str | None
) -> tuple[list[ImportResult], str | None]:
    await get_import(session, tenant_id, task_id)
    stmt = select(ImportResult).where(ImportResult.task_id == task_id)
    if outcome:
        stmt = stmt.where(ImportResult.outcome == outcome)
    return await paginate(session, stmt, page, order_by=[ImportResult.id], descending=False)


CSV_COLUMNS = ("record_type", "policy_number", "receipt_number", "outcome", "error", "as_of")


async def export_results_csv(runtime: Runtime, task_id: uuid.UUID, outcome: str | None = None) -> AsyncIterator[str]:
    """The task's detail as CSV (only the rows of one ``outcome`` when given), streamed in
    chunks (a big import has a row per policy).

    Check access with ``get_import`` first; this reads in its own session because the
    response streams after the request's unit of work has ended.
    """
    stmt = select(ImportResult).where(ImportResult.task_id == task_id).order_by(ImportResult.id)
    if outcome is not None:
        stmt = stmt.where(ImportResult.outcome == outcome)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async with runtime.db.sessionmaker() as session:
        result = await session.stream_scalars(stmt.execution_options(yield_per=2000))
        async for partition in result.partitions():
            for r in partition:
                as_of = r.as_of.isoformat() if r.as_of else ""
                writer.writerow([r.record_type, r.policy_number, r.receipt_number, r.outcome, r.error, as_of])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def to_import_task(task: Task) -> schemas.ImportTask:
    params = task.params or {}
    period = params.get("period")
    windows = periods.windows_from_param(params.get("windows") or [])
    chained_from = params.get("chained_from")
    return schemas.ImportTask(
        id=task.id,
        connection_id=uuid.UUID(params["connection_id"]) if params.get("connection_id") else None,
        insurer=params.get("insurer"),
        trigger=task.trigger,
        status=TaskStatus(task.status),
        period=schemas.ImportWindow(date.fromisoformat(period[0]), date.fromisoformat(period[1])) if period else None,
        windows=[schemas.ImportWindow(a, b) for a, b in windows],
        policy_number=params.get("policy_number"),
        progress=Progress(task.progress_done, task.progress_total),
        counters=schemas.ImportCounters.from_flat(task.counters or {}),
        attempt=task.attempt,
        error_code=task.error_code,
        error=task.error,
        parent_id=task.parent_id,
        chained_from=uuid.UUID(chained_from) if chained_from else None,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        options=params.get("options"),
        preview_id=uuid.UUID(params["preview_id"]) if params.get("preview_id") else None,
        selected=len(params["policy_numbers"]) if "policy_numbers" in params else None,
    )
