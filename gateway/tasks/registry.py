"""Which coroutine runs each task kind. Domains register in their ``jobs.py``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.tasks.runner import TaskContext, TaskOutcome

Handler = Callable[["TaskContext"], Coroutine[Any, Any, "TaskOutcome | None"]]

HANDLERS: dict[str, Handler] = {}


def task_handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not fn:
            raise RuntimeError(f"two handlers for task kind {kind!r}")
        HANDLERS[kind] = fn
        return fn

    return register
