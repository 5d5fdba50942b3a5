"""arq worker: one job function that runs any task by id, and the sweeper on a cron.

Start with ``ponte worker``, which runs these settings on ``workers.worker.Worker`` (arq's
worker, made to outlive a Valkey restart). Shared clients are made once in ``on_startup``
and kept in ``ctx``.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio.lowlevel
import structlog
from arq import cron
from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine

import gateway.jobs
import gateway.portal.tables
from gateway.events.dispatcher import Dispatcher
from gateway.observability import configure_logging
from gateway.outages import is_outage
from gateway.queue import redis_settings
from gateway.reconciliation.jobs import daily_cron as reconciliation_daily
from gateway.runtime import Runtime
from gateway.server import settle_heap
from gateway.settings import get_settings
from gateway.tasks import runner, sweeper

log = structlog.get_logger("ponte.worker")


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    ctx["runtime"] = await Runtime.start(settings, name="ponte worker")
    # anyio (under httpx's pool) imports its event-loop backend on first use: a tenth of a
    # second of the first partner call's time, spent here instead.
    await anyio.lowlevel.checkpoint()
    # Outbound events are claimed from PostgreSQL by each worker's dispatcher, not queued in arq.
    ctx["event_dispatcher"] = Dispatcher(ctx["runtime"]).start()
    settle_heap()  # as in the gateway: start-up's heap frozen, young objects collected less often


async def shutdown(ctx: dict[str, Any]) -> None:
    dispatcher: Dispatcher | None = ctx.get("event_dispatcher")
    if dispatcher is not None:
        await dispatcher.stop()
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await runtime.close()


async def run_task(ctx: dict[str, Any], task_id: str) -> str:
    return await runner.run_task(ctx["runtime"], task_id)


async def sweep(ctx: dict[str, Any]) -> str:
    report = await sweeper.sweep(ctx["runtime"])
    return f"requeued_stale={report.requeued_stale} redispatched={report.redispatched}"


def outage_tolerant(job: WorkerCoroutine) -> WorkerCoroutine:
    """A cron tick that meets PostgreSQL or Valkey down is skipped: the next tick does its work,
    since every cron job reads what is due from PostgreSQL."""

    @functools.wraps(job)
    async def tick(ctx: dict[str, Any]) -> Any:
        try:
            return await job(ctx)
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("cron_skipped", job=job.__qualname__, error=repr(exc))
            return "skipped: backing service unavailable"

    return tick


def _every(seconds: int) -> set[int]:
    return set(range(0, 60, max(1, min(seconds, 60))))


class WorkerSettings:
    functions = [run_task]
    cron_jobs = [
        cron(outage_tolerant(sweep), second=_every(get_settings().sweep_interval_seconds), run_at_startup=True),
        # each minute; one run per sync and period
        cron(outage_tolerant(gateway.portal.jobs.start_due_syncs), second=0),
        # each minute; TISS sync when the tables move
        cron(outage_tolerant(gateway.portal.tables.watch_tables), second=30),
        # each minute; one task per connection a day
        cron(outage_tolerant(gateway.imports.schedule.scheduled_imports), second=0),
        cron(outage_tolerant(reconciliation_daily), minute=7),  # hourly; one run per tenant per local day
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings: RedisSettings = redis_settings(
        get_settings().redis_url or "redis://localhost:6379", retry_seconds=get_settings().queue_retry_seconds
    )
    max_jobs = get_settings().worker_concurrency
    # arq starts jobs only when it polls: at its 0.5 s default a slot freed by a short task
    # (a document delivery takes ~0.1 s) sat idle for most of the poll period.
    poll_delay = 0.05
    # Long imports run for minutes; recovery after a crash comes from the task lease and the
    # sweeper, not from arq's in-progress key, so a generous timeout costs nothing.
    job_timeout = 3600
    max_tries = 1000  # retries are decided by the task runner, not by arq
    keep_result = 60
    # A task is cancelled through PostgreSQL (cancel_requested, seen at the next heartbeat), never
    # through arq's abort: with it on, every poll (20 a second per worker) also ran a MULTI/EXEC
    # reading and trimming arq's abort set.
    allow_abort_jobs = False
