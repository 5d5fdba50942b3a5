"""Portal synchronisations (seed 001): the four groups and 52 syncs with direction, mode, last
run and freshness; the core-system connection; the heavy-sync warning beside the schedule,
acknowledged before a daily schedule is accepted; run now; run history and failed records."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.i18n import LABELS
from gateway.console.pages import Ui, render
from gateway.db.base import utcnow
from gateway.errors import FieldError, Unprocessable
from gateway.pagination import PageParams
from gateway.portal import connection as core_connection
from gateway.portal import manager, views
from gateway.portal.catalogue import SYNCS
from gateway.portal.models import CoreSystemConnection
from gateway.runtime import Runtime
from gateway.tasks.models import FINISHED

GROUPS = ("complete", "beneficiary", "provider", "contractor")
FREQUENCIES = ("on_demand", "hourly", "daily", "weekly")
PAGE = 50
Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class ScheduleForm(msgspec.Struct):
    frequency: str = "on_demand"
    acknowledge_heavy: str = ""


class CoreSystemForm(msgspec.Struct):
    token: str = ""
    base_url: str = ""


class PortalPages(Controller):
    path = "/console/portal"

    @get("/", name="console:portal")
    async def catalogue(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, group: str | None = None,
        freshness: str | None = None,
    ) -> Template:  # fmt: skip
        catalogue = await views.catalogue(session, tenant_id, group=group if group in GROUPS else None)
        items = catalogue.items
        if freshness == "stale":
            items = [s for s in items if s.freshness in ("late", "error")]
        connection = await session.get(CoreSystemConnection, tenant_id)
        return render(
            ui, "portal/catalogue.html", catalogue=catalogue, groups=GROUPS,
            by_group={g: [s for s in items if s.group == g] for g in GROUPS},
            filters={k: v for k, v in {"group": group, "freshness": freshness}.items() if v},
            connection=views.connection(connection) if connection else None,
        )  # fmt: skip

    @post("/connection")
    async def configure(self, ui: Ui, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID,
                        data: Annotated[CoreSystemForm, Form]) -> Template:  # fmt: skip
        """Store the address and token, then check them at once (syncs wait for an ok check)."""
        if not data.token.strip():
            raise Unprocessable(
                ui.gettext("Give the core system's token."), errors=[FieldError(pointer="/token", detail="empty")]
            )
        await core_connection.configure(session, runtime, tenant_id, base_url=data.base_url.strip() or None,
                                        token=data.token.strip())  # fmt: skip
        checked = views.connection(await core_connection.check(session, runtime, tenant_id))
        if checked.ready:
            return render(ui, "_flash.html", level="ok", message=ui.gettext("The core system answered: syncs can run."))
        return render(ui, "_flash.html", level="error", message=checked.problem or checked.check_error or "")

    @get("/syncs/{key:str}")
    async def sync(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, key: str, cursor: str | None = None
    ) -> Template:
        definition = manager.lookup(key)
        states = await manager.states(session, tenant_id)
        last = await manager.last_runs(session, tenant_id, succeeded=False)
        ok = await manager.last_runs(session, tenant_id, succeeded=True)
        core = await session.get(CoreSystemConnection, tenant_id)
        sync = views.sync(definition, states.get(key), last.get(key), ok.get(key), utcnow(), core)
        runs, next_cursor = await manager.list_runs(session, tenant_id, PageParams(limit=PAGE, cursor=cursor), sync=key)
        return render(
            ui, "portal/sync.html", sync=sync, runs=[views.run(r) for r in runs], next_cursor=next_cursor,
            filters={}, frequencies=FREQUENCIES, finished=FINISHED,
        )  # fmt: skip

    @post("/syncs/{key:str}/schedule")
    async def schedule(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, key: str,
                       data: Annotated[ScheduleForm, Form]) -> Template:  # fmt: skip
        """A heavy sync scheduled daily or hourly is refused (422, shown as the page's message)
        until the warning is acknowledged: the rule is the manager's, not this page's."""
        if data.frequency not in FREQUENCIES:
            raise Unprocessable(ui.gettext("Pick a frequency."), errors=[FieldError(pointer="/frequency", detail="?")])
        await manager.set_schedule(
            session, tenant_id, key, frequency=data.frequency, acknowledge_heavy=data.acknowledge_heavy == "on"
        )
        label = ui.gettext(LABELS["frequency"][data.frequency])
        return render(
            ui, "_flash.html", level="ok", message=ui.gettext("Schedule saved: {frequency}.", frequency=label)
        )

    @post("/syncs/{key:str}/runs")
    async def run_now(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, key: str) -> Template:
        task = await manager.start_run(session, tenant_id, key)
        return render(ui, "portal/_started.html", run=views.run(task), task=task, finished=FINISHED)

    @get("/runs/{run_id:uuid}")
    async def run(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, cursor: str | None = None
    ) -> Template:
        task = await manager.get_run(session, tenant_id, run_id)
        failures, next_cursor = await manager.list_failures(
            session, tenant_id, run_id, PageParams(limit=PAGE, cursor=cursor)
        )
        return render(
            ui, "portal/run.html", run=views.run(task), task=task, failures=[views.failure(f) for f in failures],
            failures_total=await manager.count_failures(session, run_id), next_cursor=next_cursor, filters={},
            finished=FINISHED, definition=SYNCS.get(task.subject_id or ""),
        )  # fmt: skip
