"""Model rows → API Structs, so route handlers stay a few lines."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from gateway.portal import connection as core_connection
from gateway.portal import schemas
from gateway.portal.catalogue import SYNCS, SyncDefinition
from gateway.portal.manager import ACTIVE, freshness
from gateway.portal.models import CoreSystemConnection, PortalRequest, PortalRequestEvent, SyncFailure, SyncState
from gateway.tasks.models import Task
from gateway.tasks.schemas import Progress


def connection(row: CoreSystemConnection) -> schemas.CoreSystemConnection:
    problem = core_connection.not_ready_reason(row)
    status: Literal["unchecked", "ok", "failed"] = (
        "unchecked" if row.checked_at is None else "ok" if row.checked_ok else "failed"
    )
    return schemas.CoreSystemConnection(
        base_url=row.base_url, token_set=bool(row.credentials), check_status=status, checked_at=row.checked_at,
        check_error=row.check_error, ready=problem is None, problem=problem,
    )  # fmt: skip


def run_summary(task: Task) -> schemas.SyncRunSummary:
    return schemas.SyncRunSummary(
        id=task.id, status=task.status, trigger=task.trigger, counters=task.counters, created_at=task.created_at,
        finished_at=task.finished_at, error_code=task.error_code,
    )  # fmt: skip


def sync(
    definition: SyncDefinition,
    state: SyncState | None,
    last: Task | None,
    success: Task | None,
    now: datetime,
    core: CoreSystemConnection | None = None,
) -> schemas.Sync:
    frequency = state.frequency if state else "on_demand"
    last_success_at = success.finished_at if success else None
    running = last.id if last is not None and last.status in ACTIVE else None
    unavailable = core_connection.unavailable_reason(definition, core)
    return schemas.Sync(
        key=definition.key, group=definition.group, title=definition.title, description=definition.description,
        description_source=definition.description_source, direction=definition.direction, mode=definition.mode,
        heavy=definition.heavy, entity=definition.entity, recommended_schedule=definition.recommended_schedule,
        request_kinds=list(definition.request_kinds), note=definition.note,
        schedule=schemas.SyncSchedule(
            frequency=frequency,  # type: ignore[arg-type]
            heavy_acknowledged=bool(state and state.heavy_acknowledged),
            updated_at=state.schedule_updated_at if state else None,
        ),
        freshness=freshness(frequency, last_success_at, state.schedule_updated_at if state else None, now),  # type: ignore[arg-type]
        last_run=run_summary(last) if last else None, last_success_at=last_success_at, running_task_id=running,
        editions=list(definition.editions), available=unavailable is None, unavailable_reason=unavailable,
    )  # fmt: skip


def run(task: Task) -> schemas.SyncRun:
    definition = SYNCS[task.subject_id or ""]
    return schemas.SyncRun(
        id=task.id, sync_key=definition.key, title=definition.title, group=definition.group,
        direction=definition.direction, status=task.status, trigger=task.trigger,
        progress=Progress(task.progress_done, task.progress_total), counters=task.counters, result=task.result,
        attempt=task.attempt, error_code=task.error_code, error=task.error, created_at=task.created_at,
        started_at=task.started_at, finished_at=task.finished_at,
    )  # fmt: skip


def failure(row: SyncFailure) -> schemas.SyncFailureRecord:
    return schemas.SyncFailureRecord(external_id=row.external_id, error=row.error, record=row.record,
                                     created_at=row.created_at)  # fmt: skip


def run_detail(task: Task, failures: list[SyncFailure], total: int) -> schemas.SyncRunDetail:
    base = run(task)
    return schemas.SyncRunDetail(
        **{f: getattr(base, f) for f in base.__struct_fields__},
        failures_total=total, failures=[failure(f) for f in failures],
    )  # fmt: skip


def request(row: PortalRequest) -> schemas.PortalRequest:
    return schemas.PortalRequest(
        id=row.id, kind=row.kind, subject_id=row.subject_id, payload=row.payload,
        export_status=row.export_status,  # type: ignore[arg-type]
        export_error=row.export_error, exported_at=row.exported_at, protocol=row.protocol, situation=row.situation,
        reason=row.reason, situation_at=row.situation_at, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def request_detail(row: PortalRequest, events: list[PortalRequestEvent]) -> schemas.PortalRequestDetail:
    base = request(row)
    return schemas.PortalRequestDetail(
        **{f: getattr(base, f) for f in base.__struct_fields__},
        history=[schemas.PortalRequestStep(step=e.step, at=e.at, detail=e.detail) for e in events],
    )  # fmt: skip
