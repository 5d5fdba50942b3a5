"""Tasks: a filterable list, and progress bars that HTMX refreshes while a task runs."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.pages import Ui, render
from gateway.pagination import PageParams
from gateway.tasks import service
from gateway.tasks.models import FINISHED, TaskStatus

PAGE = 50
KINDS = ("import.run", "portal.sync", "portal.request.export", "documents.deliver", "reconciliation.run",
         "webhook.process")  # fmt: skip


class TaskPages(Controller):
    path = "/console/tasks"

    @get("/", name="console:tasks")
    async def list_tasks(
        self,
        ui: Ui,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        kind: str | None = None,
        status: TaskStatus | None = None,
        cursor: str | None = None,
    ) -> Template:
        rows, next_cursor = await service.list_tasks(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor), kind=kind or None, status=status
        )
        filters = {k: v for k, v in {"kind": kind, "status": status}.items() if v}
        return render(
            ui, "tasks.html", tasks=rows, next_cursor=next_cursor, filters=filters, kinds=KINDS,
            statuses=list(TaskStatus), finished=FINISHED,
        )  # fmt: skip

    @get("/{task_id:uuid}", name="console:task")
    async def task(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Template:
        return render(ui, "task.html", task=await service.get_task(session, tenant_id, task_id), finished=FINISHED)

    @get("/{task_id:uuid}/progress")
    async def progress(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Template:
        """The row (or the detail's bar) again: polled every second until the task finishes."""
        task = await service.get_task(session, tenant_id, task_id)
        return render(ui, "_task_progress.html", task=task, finished=FINISHED)

    @post("/{task_id:uuid}/cancel")
    async def cancel(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Template:
        task = await service.cancel_task(session, tenant_id, task_id)
        return render(ui, "_task_progress.html", task=task, finished=FINISHED)
