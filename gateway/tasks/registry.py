"""Which coroutine runs each task kind. Domains register in their ``jobs.py``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from gateway.tasks.runner import TaskContext, TaskOutcome

Handler = Callable[["TaskContext"], Coroutine[Any, Any, "TaskOutcome | None"]]
FinishHook = Callable[["AsyncConnection", "TaskContext", "TaskOutcome"], Coroutine[Any, Any, None]]

# Runs several claimed tasks of a kind in one call (``run_tasks``); returns each one's outcome,
# or the exception that ended it, in order.
BatchHandler = Callable[[list["TaskContext"]], Coroutine[Any, Any, "Sequence[TaskOutcome | BaseException | None]"]]

HANDLERS: dict[str, Handler] = {}
BATCH_HANDLERS: dict[str, BatchHandler] = {}
# Run in the transaction that records a task's final status (an outbound event for a finished
# import is written with the status, or not at all).
FINISH_HOOKS: dict[str, list[FinishHook]] = {}


def task_handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not fn:
            raise RuntimeError(f"two handlers for task kind {kind!r}")
        HANDLERS[kind] = fn
        return fn

    return register


def task_batch_handler(kind: str) -> Callable[[BatchHandler], BatchHandler]:
    """For a kind whose tasks, run together (``TaskContext.run_next``), share their statements.

    The kind still needs its ``task_handler``: a task dispatched on its own runs through it.
    """

    def register(fn: BatchHandler) -> BatchHandler:
        if kind in BATCH_HANDLERS and BATCH_HANDLERS[kind] is not fn:
            raise RuntimeError(f"two batch handlers for task kind {kind!r}")
        BATCH_HANDLERS[kind] = fn
        return fn

    return register


def on_task_finished(kind: str) -> Callable[[FinishHook], FinishHook]:
    def register(fn: FinishHook) -> FinishHook:
        hooks = FINISH_HOOKS.setdefault(kind, [])
        if fn not in hooks:
            hooks.append(fn)
        return fn

    return register
