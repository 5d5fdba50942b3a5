"""Each connection's health (seed 000, "companhias com ligação automática"): its last import's
status, time and counters, its next scheduled run, and whether its credentials last worked.

The status is one SQL expression, so the connection list filters on it and paginates as
usual: a broker asks for ``health=failing`` and sees every red insurer at once.

* ``disabled``: the connection is off;
* ``failing``: the credentials were last refused, or the last import failed;
* ``warning``: the last import finished with failed records (partially_succeeded);
* ``never_run``: no import has finished yet;
* ``ok``: otherwise.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import String, case, cast, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.imports import schemas
from gateway.imports.models import InsurerConnection
from gateway.runtime import Runtime
from gateway.tasks.models import Task, TaskStatus

KIND = "import.run"
HealthStatus = Literal["ok", "warning", "failing", "never_run", "disabled"]
FINISHED = (TaskStatus.succeeded, TaskStatus.partially_succeeded, TaskStatus.failed, TaskStatus.cancelled)
# Partner error codes that mean the stored credentials (or identity) are not accepted.
CREDENTIAL_CODES = frozenset({"unauthorized", "permission_denied", "identity_mismatch"})

_C = InsurerConnection


def last_import() -> Any:
    """The connection's most recent finished import, as a LATERAL subquery."""
    return (
        select(Task.id, Task.status, Task.trigger, Task.finished_at, Task.counters)
        .where(
            Task.tenant_id == _C.tenant_id,
            Task.subject_id == cast(_C.id, String),
            Task.kind == KIND,
            Task.status.in_(FINISHED),
        )
        .order_by(Task.created_at.desc())
        .limit(1)
        .lateral("last_import")
    )


def status_expression(last: Any) -> Any:
    return case(
        (~_C.enabled, "disabled"),
        (_C.credentials_ok.is_(False), "failing"),
        (last.c.status == TaskStatus.failed, "failing"),
        (last.c.status == TaskStatus.partially_succeeded, "warning"),
        (last.c.status.is_(None), "never_run"),
        else_="ok",
    )


def with_health(stmt: Any, status: HealthStatus | None) -> tuple[Any, Any]:
    """``stmt`` (a select of connections) joined to its last import, filtered on ``status``."""
    last = last_import()
    stmt = stmt.outerjoin(last, true())
    if status is not None:
        stmt = stmt.where(status_expression(last) == status)
    return stmt, last


async def health_of(session: AsyncSession, connections: list[InsurerConnection]) -> dict[uuid.UUID, Any]:
    """Health of each connection of a page, in one query."""
    if not connections:
        return {}
    last = last_import()
    rows = await session.execute(
        select(_C.id, status_expression(last), last.c.id, last.c.status, last.c.trigger, last.c.finished_at,
               last.c.counters)
        .outerjoin(last, true())
        .where(_C.id.in_([c.id for c in connections]))
    )  # fmt: skip
    by_id = {c.id: c for c in connections}
    out: dict[uuid.UUID, Any] = {}
    for cid, status, task_id, task_status, trigger, finished_at, counters in rows:
        c = by_id[cid]
        out[cid] = schemas.ConnectionHealth(
            status=status,
            last_import=None
            if task_id is None
            else schemas.LastImport(
                task_id, TaskStatus(task_status), trigger, finished_at, schemas.ImportCounters.from_flat(counters or {})
            ),
            next_run_at=next_run(c, utcnow()),
            credentials=schemas.CredentialsHealth(
                worked=c.credentials_ok, checked_at=c.credentials_checked_at, error_code=c.credentials_error
            ),
        )
    return out


def next_run(connection: InsurerConnection, now: datetime) -> datetime | None:
    """When the scheduler creates the next daily import (it checks every minute)."""
    if not connection.enabled or not connection.schedule_enabled:
        return None
    zone = ZoneInfo(connection.schedule_timezone)
    local = now.astimezone(zone)
    day: date = local.date()
    if local.time() >= connection.schedule_time:
        day += timedelta(days=1)
    return datetime.combine(day, connection.schedule_time, tzinfo=zone).astimezone(ZoneInfo("UTC"))


async def record_credentials(runtime: Runtime, connection_id: uuid.UUID, error_code: str | None) -> None:
    """Remember whether the credentials just worked, in its own transaction: a refused test
    call answers 422, which rolls the request's own transaction back."""
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(_C)
            .where(_C.id == connection_id)
            .values(credentials_ok=error_code is None, credentials_checked_at=utcnow(), credentials_error=error_code)
        )
