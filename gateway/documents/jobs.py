"""Background work of the documents capability: task-completed events and deliveries."""

from __future__ import annotations

import uuid

import structlog

from gateway.documents.delivery import deliver, deliver_tasks
from gateway.documents.intake import DELIVER, DeliverySetup, read_setup, record_completed_task
from gateway.tasks.registry import task_batch_handler, task_handler
from gateway.tasks.runner import TaskContext
from gateway.webhooks.events import TaskCompleted
from gateway.webhooks.registry import InboundEvent, event_handler

log = structlog.get_logger("ponte.documents")


@event_handler("task.completed")
async def on_task_completed(ctx: TaskContext, event: InboundEvent) -> None:
    """One delivery per document of the completed task, and one ``documents.deliver`` task for them."""
    data: TaskCompleted = event.data
    setup = await ctx.shared(("documents.setup", event.tenant_id), lambda: _setup(ctx, event.tenant_id))
    # One statement writes the event's task and deliveries: no transaction around it.
    async with ctx.runtime.db.autocommit() as conn:
        recorded = await record_completed_task(
            conn, tenant_id=event.tenant_id, event_id=event.id, data=data, setup=setup
        )
    if recorded.task is not None:
        task_id, dispatch, _ = recorded.task
        ctx.run_next(task_id, dispatch)  # the batch's events' deliveries run together when it ends
    ctx.count("deliveries_created", recorded.created)
    # Ids and counts only: file contents and names stay out of the logs.
    log.info("task_completed_recorded", event_id=str(event.id), documents=len(data.documents), created=recorded.created)


async def _setup(ctx: TaskContext, tenant_id: uuid.UUID) -> DeliverySetup:
    # Read once for the batch's events (one tenant), each of which used to read the integration
    # and its templates again in its own transaction: two of its six statements.
    async with ctx.runtime.db.reader() as session:
        return await read_setup(session, tenant_id)


task_handler(DELIVER)(deliver)
task_batch_handler(DELIVER)(deliver_tasks)
