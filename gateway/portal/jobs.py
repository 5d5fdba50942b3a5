"""Task handlers for the portal syncs, and the schedule cron the worker runs every minute."""

from __future__ import annotations

import uuid
from typing import Any

from gateway.errors import Conflict
from gateway.partners.core_system import CoreSystemClient
from gateway.portal import connection as core_connection
from gateway.portal import exchange, imports
from gateway.portal.catalogue import SYNCS
from gateway.portal.manager import SYNC_TASK, start_due_runs
from gateway.portal.models import PortalRequest
from gateway.portal.requests import EXPORT_TASK
from gateway.tasks.registry import task_handler
from gateway.tasks.runner import TaskContext, TaskFailed, TaskOutcome


async def _client(ctx: TaskContext) -> CoreSystemClient:
    # Checked again here: the connection may have changed since the run was queued.
    async with ctx.runtime.db.sessionmaker() as session:
        try:
            connection = await core_connection.require_ready(session, ctx.tenant_id)
        except Conflict as exc:
            raise TaskFailed(exc.detail, code=core_connection.NOT_READY) from exc
        return core_connection.client_for(ctx.runtime, connection)


@task_handler(SYNC_TASK)
async def run_sync(ctx: TaskContext) -> TaskOutcome:
    sync = SYNCS.get(str(ctx.params.get("sync")))
    if sync is None:
        raise TaskFailed(f"unknown sync {ctx.params.get('sync')!r}", code="unknown_sync")
    client = await _client(ctx)
    if sync.direction == "import":
        return await imports.run_import(ctx, sync, client)
    if sync.direction == "export":
        return await exchange.run_export(ctx, sync, client)
    return await exchange.run_status(ctx, sync, client)


@task_handler(EXPORT_TASK)
async def export_request(ctx: TaskContext) -> TaskOutcome:
    """Send one request whose kind has no export sync in the catalogue (see portal.requests)."""
    client = await _client(ctx)
    request_id = uuid.UUID(str(ctx.params["request_id"]))
    async with ctx.runtime.db.sessionmaker() as session:
        request = await session.get(PortalRequest, request_id)
    if request is None or request.tenant_id != ctx.tenant_id:
        raise TaskFailed(f"request {request_id} does not exist", code="not_found")
    await exchange.export_pending(ctx, client, [request.kind], request_ids=[request_id])
    return exchange.outcome(ctx, ("exported", "already_exported", "failed"), {"request_id": str(request_id)})


async def start_due_syncs(ctx: dict[str, Any]) -> str:
    """arq cron entry point: start the runs whose schedule is due."""
    started = await start_due_runs(ctx["runtime"])
    return f"started={len(started)}"
