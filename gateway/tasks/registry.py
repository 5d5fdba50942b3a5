"""Which coroutine runs each task kind. Domains register in their ``jobs.py``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from gateway.tasks.runner import TaskContext, TaskOutcome

Handler = Callable[["TaskContext"], Coroutine[Any, Any, "TaskOutcome | None"]]
FinishHook = Callable[["AsyncConnection", "TaskContext", "TaskOutcome"], Coroutine[Any, Any, None]]

HANDLERS: dict[str, Handler] = {}
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


def on_task_finished(kind: str) -> Callable[[FinishHook], FinishHook]:
    def register(fn: FinishHook) -> FinishHook:
        hooks = FINISH_HOOKS.setdefault(kind, [])
        if fn not in hooks:
            hooks.append(fn)
        return fn

    return register
