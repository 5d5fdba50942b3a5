"""Webhooks: inbound endpoints, the events they received (failed ones red) with replay of one
event or of every failed one in the last day."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar import Controller, get, post
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.pages import Ui, render
from gateway.db.base import utcnow
from gateway.pagination import PageParams
from gateway.settings import Settings
from gateway.tasks.models import FINISHED
from gateway.webhooks import service

PAGE = 50
STATUSES = ("received", "processed", "failed", "rejected")


class WebhookPages(Controller):
    path = "/console/webhooks"

    @get("/", name="console:webhooks")
    async def endpoints(
        self, ui: Ui, session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, cursor: str | None = None
    ) -> Template:
        rows, next_cursor = await service.list_endpoints(session, tenant_id, PageParams(limit=PAGE, cursor=cursor))
        return render(ui, "webhooks/endpoints.html", endpoints=rows, next_cursor=next_cursor, filters={},
                      public_url=settings.public_url)  # fmt: skip

    @get("/events")
    async def events(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, status: str | None = None,
        source: str | None = None, cursor: str | None = None,
    ) -> Template:  # fmt: skip
        status = status if status in STATUSES else None
        rows, next_cursor = await service.list_events(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor), status=status, source=source or None
        )
        filters = {k: v for k, v in {"status": status, "source": source}.items() if v}
        return render(ui, "webhooks/events.html", events=rows, next_cursor=next_cursor, filters=filters,
                      statuses=STATUSES)  # fmt: skip

    @get("/events/{event_id:uuid}")
    async def event(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> Template:
        event = await service.get_event(session, tenant_id, event_id)
        task = await service.event_task(session, event)
        headers = {k: v for k, v in event.headers.items() if k != "webhook-signature"}
        return render(ui, "webhooks/event.html", event=event, task=task, headers=headers, finished=FINISHED)

    @post("/events/{event_id:uuid}/replay")
    async def replay(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> Template:
        event = await service.replay_event(session, await service.get_event(session, tenant_id, event_id))
        task = await service.event_task(session, event)
        return render(ui, "webhooks/_replayed.html", event=event, task=task, finished=FINISHED)

    @post("/events/replay-failed")
    async def replay_failed(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID) -> Template:
        now = utcnow()
        replayed = await service.replay_failed(
            session, tenant_id, received_from=now - timedelta(days=1), received_to=now
        )
        message = ui.ngettext(
            "{n} failed event sent to be processed again.",
            "{n} failed events sent to be processed again.",
            len(replayed),
        )
        return render(ui, "_flash.html", level="ok", message=message)
