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
from collections.abc import Awaitable, Callable, Hashable, Sequence
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
from gateway.tasks.registry import BATCH_HANDLERS, FINISH_HOOKS, HANDLERS

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
    _next: list[tuple[uuid.UUID, int, datetime | None]] = field(default_factory=list)
    _given: dict[uuid.UUID, Any] = field(default_factory=dict)
    # What the run that made this task handed over for its first attempt (``run_next``), if
    # this is that attempt, in this process; a handler that gets it need not read it again.
    given: Any = None
    lease_lost: bool = False
    concluded: str = ""  # what the run came to (``run_tasks`` reports it)

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def run_next(self, task_id: uuid.UUID, dispatch: int, *, given: Any = None) -> None:
        """Run a due task this run committed in this process, once the run is finished.

        The tasks a run asks for are claimed together and, for a kind with a batch handler
        (``task_batch_handler``), run in one call: an event batch's delivery tasks then cost one
        claim and one record for all of them, and no queue round trips. Whatever is not run
        (the worker died first) is still queued: the sweeper dispatches it. Called outside a
        runner (a test driving a handler), ``send_jobs`` enqueues them instead.
        ``given`` is what the task's first attempt may take as read (``TaskContext.given``),
        when that attempt runs here.
        """
        self._next.append((task_id, dispatch, None))
        if given is not None:
            self._given[task_id] = given

    def take_next(self) -> tuple[list[uuid.UUID], dict[uuid.UUID, Any]]:
        """The tasks ``run_next`` asked for and what it handed over (the runner takes them)."""
        ids, given = [task_id for task_id, _, _ in self._next], self._given
        self._next, self._given = [], {}
        return ids, given

    async def send_jobs(self) -> None:
        """Enqueue what ``run_next`` asked for, in one round trip, for a handler driven outside a
        runner (which would run them itself)."""
        jobs, self._next, self._given = self._next, [], {}
        if jobs:
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
            self.lease_lost = True
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


_CLAIM_MANY = text(
    """
    UPDATE tasks SET status = 'running', attempt = attempt + 1, started_at = coalesce(started_at, now()),
        lease_expires_at = now() + make_interval(secs => :lease), heartbeat_at = now(), updated_at = now()
    WHERE id = ANY(CAST(:ids AS uuid[])) AND NOT cancel_requested
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


def _context(runtime: Runtime, row: Any) -> TaskContext:
    # Counters start afresh: a re-run recounts what it finds (already-applied rows show as unchanged).
    return TaskContext(
        task_id=row["id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        subject_id=row["subject_id"],
        trigger=row["trigger"],
        params=row["params"],
        attempt=row["attempt"],
        runtime=runtime,
        max_attempts=row["max_attempts"],
    )


async def _claim_and_run(runtime: Runtime, task_id: str | uuid.UUID) -> str:
    async with autocommit(runtime) as conn:
        row = (
            (await conn.execute(_CLAIM, {"id": str(task_id), "lease": runtime.settings.task_lease_seconds}))
            .mappings()
            .first()
        )
    if row is None:
        return "skipped"
    ctx = _context(runtime, row)
    status = await _run_claimed(ctx)
    await _run_next(ctx)
    return status


async def run_tasks(
    runtime: Runtime, task_ids: Sequence[uuid.UUID], given: dict[uuid.UUID, Any] | None = None
) -> dict[uuid.UUID, str]:
    """Claim the due ones of ``task_ids`` in one statement and run them: each kind with a batch
    handler in one call, the others one by one, concurrently. Returns what happened to each
    task claimed (the others were finished, held elsewhere or not due: nothing happened).
    ``given`` (by task) reaches a task's context only on its first attempt: a later one must
    read afresh what an earlier attempt may have changed."""
    async with autocommit(runtime) as conn:
        params = {"ids": list(task_ids), "lease": runtime.settings.task_lease_seconds}
        rows = (await conn.execute(_CLAIM_MANY, params)).mappings().all()
    ctxs = [_context(runtime, row) for row in rows]
    for ctx in ctxs:
        if given and ctx.attempt == 1:
            ctx.given = given.get(ctx.task_id)
    alone: list[TaskContext] = []
    batches: dict[str, list[TaskContext]] = {}
    for ctx in ctxs:
        if ctx.kind in BATCH_HANDLERS and ctx.attempt <= ctx.max_attempts:
            batches.setdefault(ctx.kind, []).append(ctx)
        else:
            alone.append(ctx)
    runs = [_run_claimed(ctx) for ctx in alone] + [_run_batch(kind, group) for kind, group in batches.items()]
    await asyncio.gather(*runs)
    for ctx in ctxs:
        await _run_next(ctx)
    return {ctx.task_id: ctx.concluded for ctx in ctxs}


async def _run_next(ctx: TaskContext) -> None:
    """The tasks the run asked to run next (``run_next``); an outage leaves them to the sweeper."""
    ids, given = ctx.take_next()
    if not ids:
        return
    try:
        await run_tasks(ctx.runtime, ids, given)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("next_tasks_interrupted", tasks=len(ids), error=repr(exc))


async def _run_claimed(ctx: TaskContext) -> str:
    bound = structlog.contextvars.bound_contextvars(task_id=str(ctx.task_id), task_kind=ctx.kind, attempt=ctx.attempt)
    with bound:
        handler = HANDLERS.get(ctx.kind)
        if handler is None:
            outcome = TaskOutcome(TaskStatus.failed, error_code="unknown_kind", error=f"no handler for {ctx.kind}")
            return await _conclude(ctx, outcome)
        if ctx.attempt > ctx.max_attempts:
            return await _conclude(ctx, _gave_up(ctx))
        log.info("task_started")
        work = asyncio.create_task(handler(ctx))
        heartbeat = asyncio.create_task(_heartbeat([ctx], work))
        try:
            result: TaskOutcome | BaseException | None = await work
        except asyncio.CancelledError as exc:
            result = exc
        except Exception as exc:
            result = exc
        finally:
            heartbeat.cancel()
        return await _conclude(ctx, result)


async def _run_batch(kind: str, ctxs: list[TaskContext]) -> None:
    """One call of the kind's batch handler for the claimed ``ctxs``; each task concluded on its own."""
    for ctx in ctxs:
        with structlog.contextvars.bound_contextvars(task_id=str(ctx.task_id), task_kind=kind, attempt=ctx.attempt):
            log.info("task_started", batch=len(ctxs))
    work = asyncio.create_task(BATCH_HANDLERS[kind](ctxs))
    heartbeat = asyncio.create_task(_heartbeat(ctxs, work))
    results: Sequence[TaskOutcome | BaseException | None]
    try:
        results = await work
    except BaseException as exc:  # the batch as a whole: cancelled (lease, cancel request) or failed
        if not isinstance(exc, asyncio.CancelledError | Exception):
            raise
        results = [exc] * len(ctxs)
    finally:
        heartbeat.cancel()
    finished: list[tuple[TaskContext, TaskOutcome]] = []
    others: list[tuple[TaskContext, TaskOutcome | BaseException | None]] = []
    for ctx, result in zip(ctxs, results, strict=True):
        if isinstance(result, BaseException) or kind in FINISH_HOOKS:
            others.append((ctx, result))
        else:
            finished.append((ctx, result or TaskOutcome()))
    if finished:  # one statement records them all
        await _finish_many(finished)
    await asyncio.gather(*(_conclude_bound(ctx, result) for ctx, result in others))


async def _conclude_bound(ctx: TaskContext, result: TaskOutcome | BaseException | None) -> str:
    with structlog.contextvars.bound_contextvars(task_id=str(ctx.task_id), task_kind=ctx.kind, attempt=ctx.attempt):
        return await _conclude(ctx, result)


def _gave_up(ctx: TaskContext) -> TaskOutcome:
    return TaskOutcome(TaskStatus.failed, error_code="gave_up", error=f"gave up after {ctx.max_attempts} attempts")


async def _conclude(ctx: TaskContext, result: TaskOutcome | BaseException | None) -> str:
    """Record what a run of the task came to: its outcome, a retry, or a failure."""
    ctx.concluded = await _concluded(ctx, result)
    return ctx.concluded


async def _concluded(ctx: TaskContext, result: TaskOutcome | BaseException | None) -> str:
    if result is None or isinstance(result, TaskOutcome):
        return await _finish(ctx, result or TaskOutcome())
    if isinstance(result, asyncio.CancelledError):
        if ctx.cancel_requested:
            return await _finish(
                ctx, TaskOutcome(TaskStatus.cancelled, error_code="cancelled", error="cancelled on request")
            )
        if ctx.lease_lost:
            log.warning("task_lease_lost")
            return "lease_lost"
        # Stopped with the others of its batch (one of them lost its lease or was cancelled): again, now.
        return await _retry_or_fail(ctx, ctx.max_attempts, "interrupted", "stopped with its batch", 0.0)
    if isinstance(result, TransientPartnerError | RetryTask):
        defer = result.defer if isinstance(result, RetryTask) else None
        return await _retry_or_fail(ctx, ctx.max_attempts, getattr(result, "code", "retry"), str(result), defer)
    if isinstance(result, PermanentPartnerError | TaskFailed):
        return await _finish(ctx, TaskOutcome(TaskStatus.failed, error_code=result.code, error=str(result)))
    if is_outage(result):  # not the handler's fault: try again later, without a stack trace
        log.warning("task_interrupted", error=repr(result))
        return await _retry_or_fail(ctx, ctx.max_attempts, "unavailable", repr(result), None)
    log.error("task_crashed", exc_info=result)
    return await _retry_or_fail(ctx, ctx.max_attempts, "internal", f"{type(result).__name__}: {result}", None)


async def _heartbeat(ctxs: list[TaskContext], work: asyncio.Task[Any]) -> None:
    """Renew the leases of the tasks ``work`` runs; cancel it when one is lost or cancelled."""
    interval = max(ctxs[0].runtime.settings.task_lease_seconds / 3, 0.2)
    lease = ctxs[0].runtime.settings.task_lease_seconds
    while not work.done():
        await asyncio.sleep(interval)
        try:
            saved = [
                ctx._save(lease_expires_at=utcnow() + timedelta(seconds=lease), heartbeat_at=utcnow()) for ctx in ctxs
            ]
            cancels = await asyncio.gather(*saved, return_exceptions=True)
        except asyncio.CancelledError:
            return  # the run ended meanwhile
        if any(ctx.lease_lost for ctx in ctxs):
            work.cancel()  # lease lost: someone else owns the task now
            return
        for error in cancels:
            if isinstance(error, Exception):
                log.warning("heartbeat_failed", error=repr(error))
        if any(c is True for c in cancels):
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


# ``_FINISH`` for many tasks: arrays of columns, one statement text whatever their number.
_FINISH_MANY = text(
    """
    UPDATE tasks AS t SET status = f.status, counters = f.counters, result = f.result,
        progress_done = f.progress_done, progress_total = f.progress_total, error_code = f.error_code,
        error = f.error, finished_at = now(), lease_expires_at = NULL, updated_at = now()
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:attempts AS integer[]), CAST(:statuses AS text[]), CAST(:counters AS jsonb[]),
        CAST(:results AS jsonb[]), CAST(:done AS integer[]), CAST(:totals AS integer[]), CAST(:codes AS text[]),
        CAST(:errors AS text[])
    ) AS f(id, attempt, status, counters, result, progress_done, progress_total, error_code, error)
    WHERE t.id = f.id AND t.attempt = f.attempt AND t.status = 'running'
    RETURNING t.id
    """
)


async def _finish_many(finished: list[tuple[TaskContext, TaskOutcome]]) -> None:
    """``_finish`` for tasks of a kind without finish hooks, in one statement."""
    encode = msgspec.json.encode
    params = {
        "ids": [c.task_id for c, _ in finished],
        "attempts": [c.attempt for c, _ in finished],
        "statuses": [str(o.status) for _, o in finished],
        "counters": [encode(c.counters).decode() for c, _ in finished],
        "results": [encode(o.result).decode() for _, o in finished],
        "done": [c.progress_done for c, _ in finished],
        "totals": [c.progress_total for c, _ in finished],
        "codes": [o.error_code for _, o in finished],
        "errors": [o.error for _, o in finished],
    }
    async with autocommit(finished[0][0].runtime) as conn:
        written = set((await conn.execute(_FINISH_MANY, params)).scalars())
    for ctx, outcome in finished:
        with structlog.contextvars.bound_contextvars(task_id=str(ctx.task_id), task_kind=ctx.kind, attempt=ctx.attempt):
            if ctx.task_id in written:
                ctx.concluded = str(outcome.status)
                log.info("task_finished", status=ctx.concluded, error_code=outcome.error_code)
            else:
                ctx.concluded = "lease_lost"


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
