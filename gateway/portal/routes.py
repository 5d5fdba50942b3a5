"""Sync manager, core-system connection and portal requests: thin handlers over the services."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, get, post, put
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.pagination import PageParams
from gateway.portal import connection as core_connection
from gateway.portal import manager, schemas, views
from gateway.portal import requests as portal_requests
from gateway.portal.catalogue import SYNCS
from gateway.portal.models import CoreSystemConnection, SyncFailure
from gateway.runtime import Runtime
from gateway.tasks.models import TaskStatus


class CoreSystemConnectionController(Controller):
    path = "/v1/portal/connection"
    tags = ["Portal syncs"]

    @put("/", operation_id="ConfigureCoreSystem", summary="Set the core system's address and token")
    async def configure(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, data: schemas.CoreSystemConnectionUpdate
    ) -> schemas.CoreSystemConnection:
        """Any change must be checked again (``POST .../check``) before a sync can run."""
        row = await core_connection.configure(session, runtime, tenant_id, base_url=data.base_url, token=data.token)
        return views.connection(row)

    @get("/", operation_id="GetCoreSystemConnection", summary="The core-system connection (never the token)")
    async def read(self, session: AsyncSession, tenant_id: uuid.UUID) -> schemas.CoreSystemConnection:
        return views.connection(await core_connection.get(session, tenant_id))

    @post("/check", operation_id="CheckCoreSystem", summary="Call the core system's health check", status_code=200)
    async def check(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID
    ) -> schemas.CoreSystemConnection:
        """The outcome is stored either way: ``check_status`` ``ok`` unlocks the syncs."""
        return views.connection(await core_connection.check(session, runtime, tenant_id))


class SyncController(Controller):
    path = "/v1/portal/syncs"
    tags = ["Portal syncs"]

    @get("/", operation_id="ListPortalSyncs", summary="The 52 syncs with last run, schedule and freshness")
    async def list_syncs(
        self, session: AsyncSession, tenant_id: uuid.UUID, group: str | None = None, direction: str | None = None
    ) -> schemas.SyncCatalogue:
        """Freshness is ``late`` once a scheduled run was missed and ``error`` after two."""
        states = await manager.states(session, tenant_id)
        last = await manager.last_runs(session, tenant_id, succeeded=False)
        ok = await manager.last_runs(session, tenant_id, succeeded=True)
        core = await session.get(CoreSystemConnection, tenant_id)
        problem = core_connection.not_ready_reason(core)
        now = utcnow()
        items = [
            views.sync(d, states.get(k), last.get(k), ok.get(k), now, core)
            for k, d in SYNCS.items()
            if group in (None, d.group) and direction in (None, d.direction)
        ]
        return schemas.SyncCatalogue(items=items, core_system_ready=problem is None, core_system_problem=problem)

    @get("/{key:str}", operation_id="GetPortalSync", summary="One sync with its last run and freshness")
    async def get_sync(self, session: AsyncSession, tenant_id: uuid.UUID, key: str) -> schemas.Sync:
        definition = manager.lookup(key)
        last = await manager.last_runs(session, tenant_id, succeeded=False)
        ok = await manager.last_runs(session, tenant_id, succeeded=True)
        state = (await manager.states(session, tenant_id)).get(key)
        core = await session.get(CoreSystemConnection, tenant_id)
        return views.sync(definition, state, last.get(key), ok.get(key), utcnow(), core)

    @post("/{key:str}/runs", operation_id="RunPortalSync", summary="Run a sync now", status_code=202)
    async def run_now(self, session: AsyncSession, tenant_id: uuid.UUID, key: str) -> schemas.SyncRun:
        """409 if the core system is not configured and checked, or if the sync is already running
        (``running_task_id`` names the run)."""
        return views.run(await manager.start_run(session, tenant_id, key))

    @put("/{key:str}/schedule", operation_id="SchedulePortalSync", summary="Set how often a sync runs")
    async def schedule(
        self, session: AsyncSession, tenant_id: uuid.UUID, key: str, data: schemas.SyncScheduleUpdate
    ) -> schemas.Sync:
        """A heavy sync run daily or hourly needs ``acknowledge_heavy: true`` (422 otherwise)."""
        state = await manager.set_schedule(
            session, tenant_id, key, frequency=data.frequency, acknowledge_heavy=data.acknowledge_heavy
        )
        last = await manager.last_runs(session, tenant_id, succeeded=False)
        ok = await manager.last_runs(session, tenant_id, succeeded=True)
        return views.sync(SYNCS[key], state, last.get(key), ok.get(key), utcnow())


class SyncRunController(Controller):
    path = "/v1/portal/runs"
    tags = ["Portal syncs"]

    @get("/", operation_id="ListPortalSyncRuns", summary="Sync run history, newest first")
    async def list_runs(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        sync: str | None = None,
        group: str | None = None,
        direction: str | None = None,
        status: TaskStatus | None = None,
        trigger: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> schemas.SyncRunPage:
        rows, next_cursor = await manager.list_runs(
            session, tenant_id, page, sync=sync, group=group, direction=direction, status=status, trigger=trigger,
            created_from=created_from, created_to=created_to,
        )  # fmt: skip
        return schemas.SyncRunPage(items=[views.run(t) for t in rows], next_cursor=next_cursor)

    @get("/{run_id:uuid}", operation_id="GetPortalSyncRun", summary="A run with its counters and failed records")
    async def get_run(self, session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> schemas.SyncRunDetail:
        task = await manager.get_run(session, tenant_id, run_id)
        stmt = select(SyncFailure).where(SyncFailure.task_id == run_id).order_by(SyncFailure.id).limit(100)
        failures = list((await session.scalars(stmt)).all())
        return views.run_detail(task, failures, await manager.count_failures(session, run_id))

    @get("/{run_id:uuid}/failures", operation_id="ListPortalSyncRunFailures", summary="A run's failed records")
    async def list_failures(
        self, session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, page: PageParams
    ) -> schemas.SyncFailurePage:
        rows, next_cursor = await manager.list_failures(session, tenant_id, run_id, page)
        return schemas.SyncFailurePage(items=[views.failure(f) for f in rows], next_cursor=next_cursor)


class PortalRequestController(Controller):
    path = "/v1/portal/requests"
    tags = ["Portal requests"]

    @post("/", operation_id="CreatePortalRequest", summary="Record a request made in the portal")
    async def create(
        self, session: AsyncSession, tenant_id: uuid.UUID, data: schemas.PortalRequestCreate
    ) -> schemas.PortalRequestDetail:
        """Exported by its kind's export sync; beneficiary registration and address changes,
        which have none in the catalogue, are sent at once."""
        row = await portal_requests.create(
            session, tenant_id, kind=data.kind, subject_id=data.subject_id, payload=data.payload
        )
        return views.request_detail(row, await portal_requests.history(session, row.id))

    @get("/", operation_id="ListPortalRequests", summary="Portal requests, newest first")
    async def list_requests(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        kind: schemas.RequestKind | None = None,
        export_status: str | None = None,
        situation: str | None = None,
        subject_id: str | None = None,
    ) -> schemas.PortalRequestPage:
        rows, next_cursor = await portal_requests.list_requests(
            session, tenant_id, page, kind=kind, export_status=export_status, situation=situation, subject_id=subject_id
        )
        return schemas.PortalRequestPage(items=[views.request(r) for r in rows], next_cursor=next_cursor)

    @get("/{request_id:uuid}", operation_id="GetPortalRequest", summary="A request with its history")
    async def get_request(
        self, session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID
    ) -> schemas.PortalRequestDetail:
        row = await portal_requests.get(session, tenant_id, request_id)
        return views.request_detail(row, await portal_requests.history(session, row.id))
