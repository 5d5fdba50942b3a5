"""Background work of the documents capability: task-completed events and deliveries."""

from __future__ import annotations

import functools
import uuid

import structlog

from gateway.documents.delivery import deliver, deliver_tasks
from gateway.documents.intake import DELIVER, DeliverySetup, read_setup, record_completed_tasks
from gateway.outages import is_outage
from gateway.tasks.registry import task_batch_handler, task_handler
from gateway.tasks.runner import TaskContext
from gateway.webhooks.events import TaskCompleted
from gateway.webhooks.registry import InboundEvent, event_batch_handler, event_handler

log = structlog.get_logger("ponte.documents")


@event_handler("task.completed")
async def on_task_completed(ctx: TaskContext, event: InboundEvent) -> None:
    """One delivery per document of the completed task, and one ``documents.deliver`` task for them."""
    [error] = await on_task_completed_batch(ctx, [event])
    if error is not None:
        raise error


@event_batch_handler("task.completed", on_task_completed)
async def on_task_completed_batch(ctx: TaskContext, events: list[InboundEvent]) -> list[Exception | None]:
    """A run's task-completed events: their deliveries and tasks in one statement per tenant.

    The tasks run together in this process when the run ends (``ctx.run_next``). If the
    database refuses the statement, each event is recorded on its own, so only the event it
    refused fails."""
    by_tenant: dict[uuid.UUID, list[InboundEvent]] = {}
    for event in events:
        by_tenant.setdefault(event.tenant_id, []).append(event)
    errors: dict[uuid.UUID, Exception | None] = {}
    for tenant_id, mine in by_tenant.items():
        setup = await ctx.shared(("documents.setup", tenant_id), functools.partial(_setup, ctx, tenant_id))
        try:
            await _record(ctx, tenant_id, mine, setup)
            errors |= dict.fromkeys((e.id for e in mine), None)
        except Exception as exc:
            if len(mine) == 1 or is_outage(exc):
                errors |= dict.fromkeys((e.id for e in mine), exc)
                continue
            for event in mine:
                try:
                    await _record(ctx, tenant_id, [event], setup)
                    errors[event.id] = None
                except Exception as alone:
                    errors[event.id] = alone
    return [errors[e.id] for e in events]


async def _record(ctx: TaskContext, tenant_id: uuid.UUID, events: list[InboundEvent], setup: DeliverySetup) -> None:
    # One statement writes the events' tasks and deliveries: no transaction around it.
    async with ctx.runtime.db.autocommit() as conn:
        recorded = await record_completed_tasks(
            conn, tenant_id=tenant_id, events=[(e.id, e.data) for e in events], setup=setup
        )
    for event, written in zip(events, recorded, strict=True):
        if written.task is not None:
            task_id, dispatch, _ = written.task
            # The run's deliveries go together when it ends; rows it wrote need not be read back
            # (none: the first attempt claims from the database, as any later one does).
            ctx.run_next(task_id, dispatch, given=written.given or None)
        ctx.count("deliveries_created", written.created)
        data: TaskCompleted = event.data
        # Ids and counts only: file contents and names stay out of the logs.
        log.info(
            "task_completed_recorded", event_id=str(event.id), documents=len(data.documents), created=written.created
        )


async def _setup(ctx: TaskContext, tenant_id: uuid.UUID) -> DeliverySetup:
    # Read once for the batch's events (one tenant), each of which used to read the integration
    # and its templates again in its own transaction: two of its six statements.
    async with ctx.runtime.db.reader() as session:
        return await read_setup(session, tenant_id)


task_handler(DELIVER)(deliver)
task_batch_handler(DELIVER)(deliver_tasks)
