"""Overview: the health of each capability, each figure linking to its failures."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar import get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.pages import Ui, render
from gateway.db.base import utcnow
from gateway.documents import dashboard as deliveries
from gateway.documents import templates
from gateway.portal import views as portal
from gateway.reconciliation import queries as reconciliation
from gateway.tasks import service as tasks
from gateway.tasks.models import TaskStatus


@get("/console/", name="console:overview")
async def overview(ui: Ui, session: AsyncSession, tenant_id: uuid.UUID) -> Template:
    since = utcnow() - timedelta(hours=24)
    failures = await tasks.count_by_kind(session, tenant_id, status=TaskStatus.failed, since=since)
    syncs = await portal.catalogue(session, tenant_id)
    stale = [s for s in syncs.items if s.freshness in ("late", "error")]
    delivery = await deliveries.summary(session, tenant_id, since, None)
    return render(
        ui,
        "overview.html",
        failures=failures,
        failures_total=sum(failures.values()),
        stale_syncs=stale,
        core_system_ready=syncs.core_system_ready,
        unmapped=await templates.count_unmapped(session, tenant_id),
        failed_deliveries=delivery.failed,
        open_divergences=await reconciliation.count_queue(session, tenant_id),
        since=since,
    )
