"""Reconciliation (seed 004): the establishment's settings, the daily summary, the divergence
queue sorted by amount with the matcher's explanation, one sale's history, and remittances."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.pages import Ui, render
from gateway.errors import FieldError, NotFound, Unprocessable
from gateway.pagination import PageParams
from gateway.reconciliation import establishment, intake, queries, schemas
from gateway.runtime import Runtime

PAGE = 50
QUEUE = ("divergent", "expired")
Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class EstablishmentForm(msgspec.Struct):
    enabled: str = ""
    establishment_code: str = ""
    api_token: str = ""


class ReconciliationPages(Controller):
    path = "/console/reconciliation"

    @get("/", name="console:reconciliation")
    async def overview(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, day: str | None = None) -> Template:
        """Settings and the summary of one local day (yesterday in the establishment's zone)."""
        try:
            setting = establishment.to_schema(await establishment.get_setting(session, tenant_id))
        except NotFound:
            setting = None
        tz = ZoneInfo(await establishment.tenant_timezone(session, tenant_id))
        yesterday = datetime.now(tz).date() - timedelta(days=1)
        try:
            chosen = date.fromisoformat(day) if day else yesterday
        except ValueError as exc:
            raise Unprocessable(
                "Give the day as a date.", errors=[FieldError(pointer="/day", detail="a date")]
            ) from exc
        summary = await queries.summary(session, tenant_id, chosen)
        return render(ui, "reconciliation/overview.html", setting=setting, summary=summary, day=chosen,
                      open_queue=await queries.count_queue(session, tenant_id))  # fmt: skip

    @post("/establishment")
    async def save(self, ui: Ui, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID,
                   data: Annotated[EstablishmentForm, Form]) -> Template:  # fmt: skip
        """Enabling checks the code and token with Boavista and wires its return webhook."""
        raw = {"enabled": data.enabled == "on", "establishment_code": data.establishment_code.strip() or None,
               "api_token": data.api_token.strip() or None}  # fmt: skip
        try:
            update = msgspec.convert(raw, schemas.EstablishmentSettingUpdate)
        except msgspec.ValidationError as exc:
            raise Unprocessable(str(exc)) from exc
        await establishment.update_setting(session, runtime, tenant_id, update)
        return render(ui, "_flash.html", level="ok", message=ui.gettext("Establishment saved."))

    @get("/divergences")
    async def divergences(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, status: str | None = None,
        brand: str | None = None, cursor: str | None = None,
    ) -> Template:  # fmt: skip
        status = status if status in QUEUE else None
        items, next_cursor = await queries.divergence_queue(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor), status=status, brand=brand or None
        )
        filters = {k: v for k, v in {"status": status, "brand": brand}.items() if v}
        return render(ui, "reconciliation/divergences.html", sales=items, next_cursor=next_cursor, filters=filters,
                      statuses=QUEUE)  # fmt: skip

    @get("/sales/{sale_id:str}")
    async def sale(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, sale_id: str) -> Template:
        sale = await queries.sale_detail(session, tenant_id, await intake.get_sale(session, tenant_id, sale_id))
        return render(ui, "reconciliation/sale.html", sale=sale)

    @get("/remittances")
    async def remittances(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, cursor: str | None = None
    ) -> Template:
        items, next_cursor = await queries.list_remittances(session, tenant_id, PageParams(limit=PAGE, cursor=cursor))
        return render(ui, "reconciliation/remittances.html", remittances=items, next_cursor=next_cursor, filters={})
