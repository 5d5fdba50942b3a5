"""The one task runner: claim in PostgreSQL, run the kind's handler, record the outcome.

arq delivers at least once, so ``run_task`` may be called for a task that is finished, held
by another worker, or not due yet: the claim (one conditional UPDATE) decides, and everything
else is a no-op. A worker holds a lease it renews while the handler runs; if it dies, the
lease lapses and the sweeper hands the task to another worker. Each claim bumps ``attempt``,
and every later write is fenced on it, so a worker that lost its lease cannot overwrite the
row. Handlers must therefore be idempotent (upserts on natural keys): they may run twice.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec
import structlog
from sqlalchemy import bindparam, func, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.base import utcnow
from gateway.outages import is_outage
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.queue import enqueue_after_commit
from gateway.runtime import Runtime
from gateway.tasks.models import Task, TaskStatus
from gateway.tasks.registry import FINISH_HOOKS, HANDLERS

log = structlog.get_logger("ponte.tasks")
T = TypeVar("T")


class TaskOutcome(msgspec.Struct):
    """What a handler returns; ``None`` means succeeded with the context's counters."""

    status: TaskStatus = TaskStatus.succeeded
    result: dict[str, Any] = msgspec.field(default_factory=dict)
    error_code: str | None = None
    error: str | None = None


class RetryTask(Exception):
    """Raise to try again later (with backoff, or after ``defer`` seconds)."""

    def __init__(self, detail: str, *, defer: float | None = None, code: str = "retry") -> None:
        super().__init__(detail)
        self.defer = defer
        self.code = code


class TaskFailed(Exception):
    """Raise to fail for good, with a stable ``code``: no retry will help."""

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass
class TaskContext:
    """What a handler gets: the task's identity and parameters, the runtime, and counters."""

    task_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    subject_id: str | None
    trigger: str
    params: dict[str, Any]
    attempt: int
    runtime: Runtime
    max_attempts: int = 5
    counters: dict[str, int] = field(default_factory=dict)
    progress_done: int = 0
    progress_total: int | None = None
    cancel_requested: bool = False
    _last_saved: float = 0.0
    _shared: dict[Hashable, asyncio.Future[Any]] = field(default_factory=dict)
    _jobs: list[tuple[uuid.UUID, int, datetime | None]] = field(default_factory=list)

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def enqueue_after_run(self, task_id: uuid.UUID, dispatch: int, run_after: datetime | None = None) -> None:
        """Enqueue a task this run committed, with the others it commits, when the handler returns.

        One round trip to Valkey for a whole batch (a processing run's events each make a
        delivery task) instead of one per item. Sent whatever the handler's outcome, failures
        included; a run cut short leaves them to the sweeper, as any failed enqueue does.
        """
        self._jobs.append((task_id, dispatch, run_after))

    async def send_jobs(self) -> None:
        """Enqueue what ``enqueue_after_run`` buffered (the runner does, when the handler returns)."""
        if self._jobs:
            jobs, self._jobs = self._jobs, []
            await self.runtime.queue.send(jobs)

    def shared(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """What ``load()`` returns, loaded once for this run of the task under ``key``.

        For what every item of a batch reads alike (a tenant's settings for its events, handled
        concurrently): the first caller loads it, the others wait for that load. A failed load
        fails every caller of this run; the next run loads afresh.
        """
        loaded = self._shared.get(key)
        if loaded is None:
            loaded = self._shared[key] = asyncio.ensure_future(load())
        return asyncio.shield(loaded)  # one caller cancelled does not cancel the others' load

    async def progress(self, done: int | None = None, total: int | None = None, *, force: bool = False) -> None:
        """Record progress; written at most twice a second unless ``force``."""
        if done is not None:
            self.progress_done = done
        if total is not None:
            self.progress_total = total
        now = time.monotonic()
        if force or now - self._last_saved > 0.5:
            self._last_saved = now
            await self._save()

    async def _save(self, **extra: Any) -> bool:
        async with autocommit(self.runtime) as conn:
            row = (
                await conn.execute(
                    update(Task)
                    .where(Task.id == self.task_id, Task.attempt == self.attempt, Task.status == TaskStatus.running)
                    .values(
                        progress_done=self.progress_done,
                        progress_total=self.progress_total,
                        counters=dict(self.counters),
                        updated_at=func.now(),
                        **extra,
                    )
                    .returning(Task.cancel_requested)
                )
            ).first()
        if row is None:
            raise asyncio.CancelledError("lease lost")
        self.cancel_requested = bool(row.cancel_requested)
        return self.cancel_requested


_CLAIM = text(
    """
    UPDATE tasks SET status = 'running', attempt = attempt + 1, started_at = coalesce(started_at, now()),
        lease_expires_at = now() + make_interval(secs => :lease), heartbeat_at = now(), updated_at = now()
    WHERE id = :id AND NOT cancel_requested
      AND status = 'queued' AND run_after <= now() + interval '1 second'
    RETURNING id, tenant_id, kind, subject_id, trigger, params, attempt, max_attempts
    """
)


def autocommit(runtime: Runtime) -> AbstractAsyncContextManager[AsyncConnection]:
    """Claim, heartbeat and finish are each one conditional UPDATE, atomic on its own."""
    return runtime.db.autocommit()


def backoff_seconds(attempt: int, base: float) -> float:
    # Exponential with jitter, so a partner that came back is not hit by every task at once.
    return float(min(base * 2 ** (attempt - 1), 300.0) * random.uniform(0.8, 1.2))


async def run_task(runtime: Runtime, task_id: str | uuid.UUID) -> str:
    """Claim and run one task. Returns what happened, for logs and tests.

    If PostgreSQL or Valkey goes away meanwhile, nothing is lost: the row is still queued, or
    still leased to this attempt, and the sweeper dispatches it again once they are back.
    """
    try:
        return await _claim_and_run(runtime, task_id)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("task_interrupted", task_id=str(task_id), error=repr(exc))
        return "interrupted"


async def _claim_and_run(runtime: Runtime, task_id: str | uuid.UUID) -> str:
    settings = runtime.settings
    async with autocommit(runtime) as conn:
        row = (
            (await conn.execute(_CLAIM, {"id": str(task_id), "lease": settings.task_lease_seconds})).mappings().first()
        )
    if row is None:
        return "skipped"
    ctx = TaskContext(
        task_id=row["id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        subject_id=row["subject_id"],
        trigger=row["trigger"],
        params=row["params"],
        attempt=row["attempt"],
        runtime=runtime,
        max_attempts=row["max_attempts"],
    )  # counters start afresh: a re-run recounts what it finds (already-applied rows show as unchanged)
    bound = structlog.contextvars.bound_contextvars(task_id=str(ctx.task_id), task_kind=ctx.kind, attempt=ctx.attempt)
    with bound:
        handler = HANDLERS.get(ctx.kind)
        if handler is None:
            return await _finish(
                ctx, TaskOutcome(TaskStatus.failed, error_code="unknown_kind", error=f"no handler for {ctx.kind}")
            )
        if ctx.attempt > row["max_attempts"]:
            return await _finish(
                ctx,
                TaskOutcome(
                    TaskStatus.failed, error_code="gave_up", error=f"gave up after {row['max_attempts']} attempts"
                ),
            )
        log.info("task_started")
        work = asyncio.create_task(handler(ctx))
        heartbeat = asyncio.create_task(_heartbeat(ctx, work))
        try:
            outcome = await work or TaskOutcome()
        except asyncio.CancelledError:
            if ctx.cancel_requested:
                return await _finish(
                    ctx, TaskOutcome(TaskStatus.cancelled, error_code="cancelled", error="cancelled on request")
                )
            log.warning("task_lease_lost")
            return "lease_lost"
        except (TransientPartnerError, RetryTask) as exc:
            defer = exc.defer if isinstance(exc, RetryTask) else None
            return await _retry_or_fail(ctx, row["max_attempts"], getattr(exc, "code", "retry"), str(exc), defer)
        except (PermanentPartnerError, TaskFailed) as exc:
            return await _finish(ctx, TaskOutcome(TaskStatus.failed, error_code=exc.code, error=str(exc)))
        except Exception as exc:
            if is_outage(exc):  # not the handler's fault: try again later, without a stack trace
                log.warning("task_interrupted", error=repr(exc))
                return await _retry_or_fail(ctx, row["max_attempts"], "unavailable", repr(exc), None)
            log.exception("task_crashed")
            return await _retry_or_fail(ctx, row["max_attempts"], "internal", f"{type(exc).__name__}: {exc}", None)
        finally:
            heartbeat.cancel()
            await ctx.send_jobs()
        return await _finish(ctx, outcome)


async def _heartbeat(ctx: TaskContext, work: asyncio.Task[Any]) -> None:
    interval = max(ctx.runtime.settings.task_lease_seconds / 3, 0.2)
    lease = ctx.runtime.settings.task_lease_seconds
    while not work.done():
        await asyncio.sleep(interval)
        try:
            cancel = await ctx._save(lease_expires_at=utcnow() + timedelta(seconds=lease), heartbeat_at=utcnow())
        except asyncio.CancelledError:
            if work.done():
                return
            work.cancel()  # lease lost: someone else owns the task now
            return
        except Exception as exc:
            log.warning("heartbeat_failed", error=repr(exc))
            continue
        if cancel:
            work.cancel()
            return


# Built once: building and hashing a fresh UPDATE per task cost as much as running it. (An
# UPDATE's bound names must differ from its columns'.)
_FINISH = (
    update(Task)
    .where(
        Task.id == bindparam("current_task_id"),
        Task.attempt == bindparam("current_attempt"),
        Task.status == TaskStatus.running,
    )
    .values(
        status=bindparam("new_status"),
        counters=bindparam("new_counters"),
        result=bindparam("new_result"),
        progress_done=bindparam("new_progress_done"),
        progress_total=bindparam("new_progress_total"),
        error_code=bindparam("new_error_code"),
        error=bindparam("new_error"),
        finished_at=func.now(),
        lease_expires_at=None,
        updated_at=func.now(),
    )
)


async def _finish(ctx: TaskContext, outcome: TaskOutcome) -> str:
    hooks = FINISH_HOOKS.get(ctx.kind)
    async with ctx.runtime.db.engine.begin() if hooks else autocommit(ctx.runtime) as conn:
        done = await conn.execute(
            _FINISH,
            {
                "current_task_id": ctx.task_id,
                "current_attempt": ctx.attempt,
                "new_status": outcome.status,
                "new_counters": dict(ctx.counters),
                "new_result": outcome.result,
                "new_progress_done": ctx.progress_done,
                "new_progress_total": ctx.progress_total,
                "new_error_code": outcome.error_code,
                "new_error": outcome.error,
            },
        )
        for hook in (hooks or []) if done.rowcount else []:
            await hook(conn, ctx, outcome)
    if done.rowcount == 0:
        return "lease_lost"
    log.info("task_finished", status=str(outcome.status), error_code=outcome.error_code)
    return str(outcome.status)


async def _retry_or_fail(ctx: TaskContext, max_attempts: int, code: str, error: str, defer: float | None) -> str:
    if ctx.attempt >= max_attempts:
        return await _finish(ctx, TaskOutcome(TaskStatus.failed, error_code=code, error=error))
    delay = defer if defer is not None else backoff_seconds(ctx.attempt, ctx.runtime.settings.task_retry_base_seconds)
    run_after = utcnow() + timedelta(seconds=delay)
    async with ctx.runtime.db.sessionmaker() as session:
        row = (
            await session.execute(
                update(Task)
                .where(Task.id == ctx.task_id, Task.attempt == ctx.attempt, Task.status == TaskStatus.running)
                .values(
                    status=TaskStatus.queued,
                    run_after=run_after,
                    dispatches=Task.dispatches + 1,
                    counters=dict(ctx.counters),
                    error_code=code,
                    error=error,
                    lease_expires_at=None,
                    updated_at=func.now(),
                )
                .returning(Task.dispatches)
            )
        ).first()
        if row is None:
            await session.rollback()
            return "lease_lost"
        enqueue_after_commit(session, ctx.task_id, row.dispatches, run_after)
        await session.commit()
        await ctx.runtime.queue.flush(session)
    log.info("task_retry_scheduled", error_code=code, delay=round(delay, 2))
    return "retry"
