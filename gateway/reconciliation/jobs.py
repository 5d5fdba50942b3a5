"""Reconciliation work on the task model: the run, the daily cron, and Boavista's return."""

from __future__ import annotations

from typing import Any

from gateway.db.base import utcnow
from gateway.reconciliation import flows, remittances
from gateway.tasks.registry import task_handler
from gateway.tasks.runner import TaskContext
from gateway.webhooks.events import RemittanceReturned
from gateway.webhooks.registry import InboundEvent, event_handler


@task_handler(flows.RUN_KIND)
async def run(ctx: TaskContext) -> None:
    await flows.run(ctx)


@event_handler("remittance.returned")
async def on_remittance_returned(ctx: TaskContext, event: InboundEvent) -> None:
    data: RemittanceReturned = event.data
    async with ctx.runtime.db.unit_of_work() as session:
        counts = await remittances.apply_return(session, event.tenant_id, data)
    for name, n in counts.items():
        ctx.count(f"return_{name}", n)


async def daily_cron(ctx: dict[str, Any]) -> str:
    """arq cron entry (workers/main.py): schedule today's run for every enabled tenant."""
    return f"runs_created={await flows.schedule_daily(ctx['runtime'], utcnow())}"
