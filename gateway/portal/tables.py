"""TISS events and price tables sync "when the tables change" (seed 001).

The seed recommends running "Eventos e Tabelas de Preço TISS" only when the core system's
event tables change. ``watch_table_versions`` (a worker cron, every minute) asks each ready
core system for its ``tables_version``; when it moved since the version Ponte last ran the
sync for, it starts the sync with trigger ``tables_changed`` (the run history shows it) and
remembers the new version in the same transaction. A run already going keeps the old
version stored, so the next tick starts another once it is done. The dedup key (the
version) makes it one run per version however many workers tick at once.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import select

from gateway.errors import Conflict
from gateway.partners.errors import PartnerError
from gateway.portal import connection as core_connection
from gateway.portal.manager import start_run
from gateway.portal.models import CoreSystemConnection
from gateway.runtime import Runtime

log = structlog.get_logger("ponte.portal")

TISS_SYNC = "tiss_price_table.full"
TRIGGER = "tables_changed"


async def watch_table_versions(runtime: Runtime) -> list[uuid.UUID]:
    """Start the TISS sync for every tenant whose core system's tables moved; returns the runs."""
    async with runtime.db.sessionmaker() as session:
        tenants = list(
            await session.scalars(select(CoreSystemConnection.tenant_id).where(CoreSystemConnection.checked_ok))
        )
    started: list[uuid.UUID] = []
    for tenant_id in tenants:
        run = await _watch_one(runtime, tenant_id)
        if run is not None:
            started.append(run)
    return started


async def _watch_one(runtime: Runtime, tenant_id: uuid.UUID) -> uuid.UUID | None:
    async with runtime.db.sessionmaker() as session:
        connection = await session.get(CoreSystemConnection, tenant_id)
        if connection is None or not connection.checked_ok:
            return None
        client = core_connection.client_for(runtime, connection)
    try:
        version = (await client.ping()).tables_version
    except PartnerError as exc:  # the manager shows the connection's health; try next tick
        log.info("table_version_unavailable", tenant_id=str(tenant_id), error=exc.code)
        return None
    async with runtime.db.unit_of_work(runtime.queue) as session:
        connection = await session.get(CoreSystemConnection, tenant_id, with_for_update=True)
        if connection is None or version is None or version == connection.tables_version:
            return None
        previous = connection.tables_version
        if previous is None:  # first sight: nothing moved yet
            connection.tables_version = version
            return None
        params: dict[str, Any] = {"tables_version": {"from": previous, "to": version}}
        try:
            task = await start_run(
                session, tenant_id, TISS_SYNC, trigger=TRIGGER, dedup_key=f"tables:{version}", params=params
            )
        except Conflict as exc:
            log.info("tables_changed_run_deferred", tenant_id=str(tenant_id), reason=exc.detail)
            return None
        connection.tables_version = version
        return task.id


async def watch_tables(ctx: dict[str, Any]) -> str:
    """arq cron entry point (see ``workers.main``)."""
    started = await watch_table_versions(ctx["runtime"])
    return f"started={len(started)}"
