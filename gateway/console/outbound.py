"""Webhooks, outbound: the tenant's event endpoints (created with their secret shown once,
enabled or disabled, pinged), the events sent with their status per endpoint, one event's
attempts, and sending it again. Everything goes through ``gateway.events``, as the API does."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.pages import Req, Ui, form_values, render
from gateway.errors import FieldError, Unprocessable
from gateway.events import messages, schemas, service
from gateway.events.catalogue import EVENT_TYPES
from gateway.events.models import Event, EventEndpoint
from gateway.pagination import PageParams
from gateway.runtime import Runtime

PAGE = 50
STATUSES = ("pending", "sending", "succeeded", "failed")
# A delivery in these may change any second: its page keeps refreshing its log.
IN_FLIGHT = ("pending", "sending")
Form = Body(media_type=RequestEncodingType.URL_ENCODED)
TypeFilter = Annotated[str | None, Parameter(query="type")]


class RetryForm(msgspec.Struct):
    endpoint_id: str = ""


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _endpoint_create(ui: Ui, url: str, description: str, event_types: list[str]) -> schemas.EventEndpointCreate:
    raw = {"url": url.strip(), "description": description.strip(), "event_types": event_types}
    try:
        return msgspec.convert(raw, schemas.EventEndpointCreate)
    except msgspec.ValidationError as exc:
        where = str(exc).rpartition("at `$.")[2].split("`")[0].split("[")[0]
        detail = {
            "url": ui.gettext("Give the endpoint's address as an http(s) URL, e.g. https://crm.example/ponte-events."),
            "description": ui.gettext("The description is too long (500 characters at most)."),
            "event_types": ui.gettext("Pick event types from the list."),
        }.get(where, ui.gettext("Check the form's fields."))
        raise Unprocessable(detail, errors=[FieldError(pointer=f"/{where}", detail=str(exc))]) from exc


async def _named_endpoints(session: AsyncSession, tenant_id: uuid.UUID, events: list[Event]) -> tuple[
    dict[uuid.UUID, list[Any]], dict[uuid.UUID, EventEndpoint]
]:  # fmt: skip
    deliveries = await messages.deliveries_of(session, [e.id for e in events])
    ids = {d.endpoint_id for ds in deliveries.values() for d in ds}
    return deliveries, await service.endpoints_by_id(session, tenant_id, ids)


class OutboundPages(Controller):
    path = "/console/webhooks"

    @get("/outbound", name="console:outbound")
    async def endpoints(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, cursor: str | None = None
    ) -> Template:
        rows, next_cursor = await service.list_endpoints(session, tenant_id, PageParams(limit=PAGE, cursor=cursor))
        return render(ui, "webhooks/outbound.html", endpoints=rows, next_cursor=next_cursor, filters={},
                      event_types=EVENT_TYPES)  # fmt: skip

    @post("/outbound")
    async def create(
        self, request: Req, ui: Ui, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID
    ) -> Template:
        """The secret is in this answer only (it is stored sealed); the list is swapped in too."""
        form = await request.form()
        types = await form_values(request, "event_types")
        create = _endpoint_create(ui, str(form.get("url") or ""), str(form.get("description") or ""), types)
        endpoint, secret = await service.create_endpoint(session, runtime.cipher, runtime.egress, tenant_id, create)
        rows, next_cursor = await service.list_endpoints(session, tenant_id, PageParams(limit=PAGE))
        return render(ui, "webhooks/_outbound_created.html", created=endpoint, secret=secret, endpoints=rows,
                      next_cursor=next_cursor)  # fmt: skip

    @post("/outbound/{endpoint_id:uuid}/enable")
    async def enable(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> Template:
        endpoint = await service.set_enabled(session, await service.get_endpoint(session, tenant_id, endpoint_id), True)
        return render(ui, "webhooks/_outbound_row.html", e=endpoint)

    @post("/outbound/{endpoint_id:uuid}/disable")
    async def disable(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> Template:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        endpoint = await service.set_enabled(session, endpoint, False)
        return render(ui, "webhooks/_outbound_row.html", e=endpoint)

    @post("/outbound/{endpoint_id:uuid}/test")
    async def test(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> Template:
        event_id = await service.send_ping(session, await service.get_endpoint(session, tenant_id, endpoint_id))
        return render(ui, "webhooks/_ping_sent.html", event_id=event_id)

    @get("/messages", name="console:event-messages")
    async def messages(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, status: str | None = None,
        endpoint_id: str | None = None, event_type: TypeFilter = None, cursor: str | None = None,
    ) -> Template:  # fmt: skip
        """Filters that do not parse are dropped, not refused: they come from links and the form."""
        status = status if status in STATUSES else None
        endpoint = _uuid(endpoint_id)
        event_type = event_type if event_type in EVENT_TYPES else None
        rows, next_cursor = await messages.list_events(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor), event_type=event_type, status=status,
            endpoint_id=endpoint,
        )  # fmt: skip
        deliveries, endpoints = await _named_endpoints(session, tenant_id, rows)
        filters = {k: v for k, v in {"status": status, "endpoint_id": endpoint and str(endpoint),
                                     "type": event_type}.items() if v}  # fmt: skip
        return render(ui, "webhooks/messages.html", events=rows, deliveries=deliveries, endpoints=endpoints,
                      next_cursor=next_cursor, filters=filters, statuses=STATUSES, event_types=EVENT_TYPES)  # fmt: skip

    async def _log(
        self, session: AsyncSession, tenant_id: uuid.UUID, event: Event, cursor: str | None, **extra: Any
    ) -> dict[str, Any]:
        deliveries, endpoints = await _named_endpoints(session, tenant_id, [event])
        attempts, next_cursor = await messages.list_attempts(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor), event_id=event.id
        )
        mine = deliveries[event.id]
        return {
            "event": event, "deliveries": mine, "endpoints": endpoints, "attempts": attempts,
            "next_cursor": next_cursor, "filters": {}, "in_flight": IN_FLIGHT,
            "polling": any(d.status in IN_FLIGHT for d in mine), "any_failed": any(d.status == "failed" for d in mine),
            **extra,
        }  # fmt: skip

    @get("/messages/{event_id:uuid}")
    async def message(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID, cursor: str | None = None
    ) -> Template:
        event = await messages.get_event(session, tenant_id, event_id)
        log = await self._log(session, tenant_id, event, cursor)
        payload = msgspec.json.format(event.body, indent=2).decode()
        return render(ui, "webhooks/message.html", payload=payload, **log)

    @get("/messages/{event_id:uuid}/log")
    async def log(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> Template:
        """The deliveries and attempts again: polled while a delivery is on its way."""
        event = await messages.get_event(session, tenant_id, event_id)
        return render(ui, "webhooks/_message_log.html", **await self._log(session, tenant_id, event, None))

    @post("/messages/{event_id:uuid}/retry")
    async def retry(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID,
        data: Annotated[RetryForm, Form],
    ) -> Template:  # fmt: skip
        """One endpoint's delivery (``endpoint_id``), or every failed one, sent again now."""
        event = await messages.get_event(session, tenant_id, event_id)
        endpoint = None
        if data.endpoint_id:
            endpoint_id = _uuid(data.endpoint_id)
            if endpoint_id is None:
                raise Unprocessable(ui.gettext("That endpoint does not exist."))
            endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        count = await messages.retry_event(session, event, endpoint)
        if count:
            notice = ui.ngettext("Sent again to {n} endpoint.", "Sent again to {n} endpoints.", count)
        else:
            notice = ui.gettext("No failed delivery to send again.")
        log = await self._log(session, tenant_id, event, None, notice=notice)
        return render(ui, "webhooks/_message_log.html", **log)
