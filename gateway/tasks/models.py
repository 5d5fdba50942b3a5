from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, TimestampedMixin, new_id


class TaskStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    partially_succeeded = "partially_succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED = frozenset({TaskStatus.succeeded, TaskStatus.partially_succeeded, TaskStatus.failed, TaskStatus.cancelled})


class Task(TimestampedMixin, Base):
    """One row per piece of background work, whatever the capability.

    PostgreSQL is the truth: arq only carries a pointer (the task id) and may lose it; the
    sweeper re-dispatches from here. ``attempt`` fences a worker's writes: a worker that lost
    its lease (and so its attempt number) can no longer change the row.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "dedup_key"),
        Index("ix_tasks_due", "status", "run_after"),
        Index("ix_tasks_tenant_kind_created", "tenant_id", "kind", "created_at"),
        Index("ix_tasks_subject", "tenant_id", "subject_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    # What the task is about (a connection, a sync, an inbox event...), for per-subject history.
    subject_id: Mapped[str | None] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(32), default="manual")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(24), default=TaskStatus.queued)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    counters: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    attempt: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    # Incremented on every (re-)dispatch so each arq job id is new: arq refuses an id whose job
    # or result key still exists, which would block a re-dispatch after a crash.
    dispatches: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(server_default=func.now())
    lease_expires_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
