"""Daily scheduled imports, decided from PostgreSQL alone.

``schedule_due_imports(runtime, now)`` runs every minute on every worker (an arq cron job). A
connection is due once its local schedule time has passed today; its window runs from
``covered_until`` (the end of the last successful import, re-read as a one-day overlap) to
today, so after days of downtime the next run covers the whole gap. The dedup key
``scheduled:<connection>:<local day>`` makes it one task per connection per day, however
many workers tick at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from gateway.db.base import utcnow
from gateway.imports.catalogue import INSURERS
from gateway.imports.models import InsurerConnection
from gateway.imports.service import create_import, period_params
from gateway.runtime import Runtime

FIRST_RUN_DAYS = 1  # a connection never imported starts with yesterday and today


async def schedule_due_imports(runtime: Runtime, now: datetime) -> list[uuid.UUID]:
    """Create today's scheduled import for every due connection; returns the tasks created."""
    created: list[uuid.UUID] = []
    async with runtime.db.unit_of_work(runtime.queue) as session:
        stmt = select(InsurerConnection).where(InsurerConnection.enabled, InsurerConnection.schedule_enabled)
        for connection in (await session.scalars(stmt)).all():
            local = now.astimezone(ZoneInfo(connection.schedule_timezone))
            if local.time() < connection.schedule_time:
                continue
            today = local.date()
            start = connection.covered_until or today - timedelta(days=FIRST_RUN_DAYS)
            params = period_params(min(start, today), today, INSURERS[connection.insurer].max_window_days)
            task, is_new = await create_import(
                session, connection, trigger="scheduled", params=params, dedup_key=f"scheduled:{connection.id}:{today}"
            )
            if is_new:
                created.append(task.id)
    return created


async def scheduled_imports(ctx: dict[str, Any]) -> str:
    """arq cron job (see ``workers.main``)."""
    created = await schedule_due_imports(ctx["runtime"], utcnow())
    return f"scheduled={len(created)}"
