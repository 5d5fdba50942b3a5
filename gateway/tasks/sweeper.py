"""The sweeper: re-dispatch from PostgreSQL what the queue lost or a dead worker left.

arq has no dead-letter queue and may lose its whole state (a Valkey flush); the task table
does not. Two cases: a running task whose lease lapsed (its worker died) goes back to queued;
a queued task that is due but was not picked up within the grace period is dispatched again
with a new job id. A duplicate dispatch is harmless: only one worker can claim a task.
"""

from __future__ import annotations

import msgspec
import structlog
from sqlalchemy import text

from gateway.queue import enqueue_after_commit
from gateway.runtime import Runtime

log = structlog.get_logger("ponte.sweeper")


class SweepReport(msgspec.Struct):
    requeued_stale: int
    redispatched: int


_REQUEUE_STALE = text(
    """
    UPDATE tasks SET status = 'queued', run_after = now(), lease_expires_at = NULL,
        dispatches = dispatches + 1, updated_at = now()
    WHERE id IN (
        SELECT id FROM tasks WHERE status = 'running' AND lease_expires_at < now()
        ORDER BY lease_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING id, dispatches
    """
)

_REDISPATCH = text(
    """
    UPDATE tasks SET dispatches = dispatches + 1, updated_at = now()
    WHERE id IN (
        SELECT id FROM tasks
        WHERE status = 'queued' AND NOT cancel_requested
          AND run_after < now() - make_interval(secs => :grace)
          AND updated_at < now() - make_interval(secs => :grace)
        ORDER BY run_after LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING id, dispatches
    """
)


async def sweep(runtime: Runtime, *, limit: int = 1000, grace: float | None = None) -> SweepReport:
    grace = runtime.settings.sweep_grace_seconds if grace is None else grace
    async with runtime.db.unit_of_work(runtime.queue) as session:
        stale = (await session.execute(_REQUEUE_STALE, {"limit": limit})).all()
        due = (await session.execute(_REDISPATCH, {"limit": limit, "grace": grace})).all()
        for row in [*stale, *due]:
            enqueue_after_commit(session, row.id, row.dispatches)
    report = SweepReport(requeued_stale=len(stale), redispatched=len(due))
    if stale or due:
        log.info("sweep", requeued_stale=report.requeued_stale, redispatched=report.redispatched)
    return report
