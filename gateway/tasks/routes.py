from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pagination import PageParams
from gateway.tasks import service
from gateway.tasks.models import TaskStatus
from gateway.tasks.reads import TaskReader
from gateway.tasks.schemas import Task, TaskPage
from gateway.tenants.auth import provide_tenant_id


def task_reader(state: State) -> TaskReader:
    if "task_reader" not in state:
        state.task_reader = TaskReader(state.db)
    return state.task_reader  # type: ignore[no-any-return]


class TaskController(Controller):
    path = "/v1/tasks"
    tags = ["Tasks"]

    @get("/", operation_id="ListTasks", summary="List background tasks, newest first")
    async def list_tasks(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        kind: str | None = None,
        status: TaskStatus | None = None,
        subject_id: str | None = None,
        trigger: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> TaskPage:
        rows, next_cursor = await service.list_tasks(
            session,
            tenant_id,
            page,
            kind=kind,
            status=status,
            subject_id=subject_id,
            trigger=trigger,
            created_from=created_from,
            created_to=created_to,
        )
        return TaskPage(items=[Task.from_model(t) for t in rows], next_cursor=next_cursor)

    @get("/{task_id:uuid}", operation_id="GetTask", summary="A task with its progress and counters")
    async def get_task(self, request: Request, task_id: uuid.UUID) -> Task:  # type: ignore[type-arg]
        # The caller's tenant is read here rather than injected: what clients poll while a task
        # runs skips Litestar's dependency resolution (about a twentieth of the request's CPU).
        tenant_id = provide_tenant_id(request)
        return Task.from_model(await task_reader(request.app.state).get(tenant_id, task_id))

    @post(
        "/{task_id:uuid}/cancel", operation_id="CancelTask", summary="Cancel a queued or running task", status_code=202
    )
    async def cancel_task(self, session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Task:
        return Task.from_model(await service.cancel_task(session, tenant_id, task_id))
