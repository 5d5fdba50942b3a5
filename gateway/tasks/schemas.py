from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from gateway.tasks.models import TaskStatus


class Progress(msgspec.Struct):
    done: int
    total: int | None


class Task(msgspec.Struct):
    """A piece of background work: an import, a sync run, a delivery, a webhook event..."""

    id: uuid.UUID
    kind: str
    status: TaskStatus
    trigger: str
    subject_id: str | None
    params: dict[str, Any]
    progress: Progress
    counters: dict[str, int]
    result: dict[str, Any]
    attempt: int
    max_attempts: int
    error_code: str | None
    error: str | None
    parent_id: uuid.UUID | None
    run_after: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool

    @classmethod
    def from_model(cls, task: Any) -> Task:
        return cls(
            id=task.id,
            kind=task.kind,
            status=TaskStatus(task.status),
            trigger=task.trigger,
            subject_id=task.subject_id,
            params=task.params,
            progress=Progress(task.progress_done, task.progress_total),
            counters=task.counters,
            result=task.result,
            attempt=task.attempt,
            max_attempts=task.max_attempts,
            error_code=task.error_code,
            error=task.error,
            parent_id=task.parent_id,
            run_after=task.run_after,
            created_at=task.created_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
            cancel_requested=task.cancel_requested,
        )


class TaskPage(msgspec.Struct):
    items: list[Task]
    next_cursor: str | None
