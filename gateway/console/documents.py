"""Documents (seed 003): the failure card with counts by error code, the filtered delivery list
with retry of one or many, templates with their folders, department defaults, bulk assignment
(optionally from a model client's folder tree) and the unmapped list."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.pages import Req, Ui, form_values, render
from gateway.db.base import utcnow
from gateway.documents import dashboard, integration, schemas, templates
from gateway.documents.models import DeliveryStatus
from gateway.errors import FieldError, Unprocessable
from gateway.pagination import PageParams
from gateway.runtime import Runtime
from gateway.settings import Settings

PAGE = 50
PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class IntegrationForm(msgspec.Struct):
    enabled: str = ""
    token: str = ""
    apply_default_folders: str = ""


class DefaultsForm(msgspec.Struct):
    overwrite: str = ""


def _folder(text: str) -> list[str]:
    """``Fiscal > DAS`` as people write it, into the API's list of folder names."""
    return [part.strip() for part in text.split(">") if part.strip()]


class DocumentPages(Controller):
    path = "/console/documents"

    @get("/", name="console:documents")
    async def card(
        self, ui: Ui, session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, period: str = "7d"
    ) -> Template:
        """The "failed to send documents to the client portal" card over a period."""
        period = period if period in PERIODS else "7d"
        since = utcnow() - PERIODS[period]
        summary = await dashboard.summary(session, tenant_id, since, None)
        return render(
            ui, "documents/card.html", summary=summary, period=period, periods=list(PERIODS),
            integration=await integration.describe(session, tenant_id, settings), since=since,
        )  # fmt: skip

    @post("/integration")
    async def integration(self, ui: Ui, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID,
                          data: Annotated[IntegrationForm, Form]) -> Template:  # fmt: skip
        update = schemas.PortalIntegrationUpdate(
            enabled=data.enabled == "on", token=data.token.strip() or None,
            apply_default_folders=data.apply_default_folders == "on",
        )  # fmt: skip
        saved = await integration.update_integration(session, tenant_id, update, runtime)
        message = ui.gettext("Client-portal integration saved.")
        if saved.enabled and saved.unmapped_templates:
            message += " " + ui.ngettext("{n} template has no folder: its documents fail until it gets one.",
                                         "{n} templates have no folder: their documents fail until they get one.",
                                         saved.unmapped_templates)  # fmt: skip
        response = render(ui, "_flash.html", level="ok", message=message)
        response.headers["HX-Refresh"] = "true"
        return response

    @get("/deliveries")
    async def deliveries(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, status: DeliveryStatus | None = None,
        error_code: str | None = None, client_id: str | None = None, cursor: str | None = None,
    ) -> Template:  # fmt: skip
        f = dashboard.DeliveryFilter(status=status, error_code=error_code or None, client_id=client_id or None)
        rows, next_cursor = await dashboard.list_deliveries(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor), f
        )
        filters = {k: v for k, v in {"status": status, "error_code": error_code, "client_id": client_id}.items() if v}
        return render(
            ui, "documents/deliveries.html", deliveries=rows, next_cursor=next_cursor, filters=filters,
            statuses=list(DeliveryStatus),
        )  # fmt: skip

    @post("/deliveries/{delivery_id:uuid}/retry")
    async def retry_one(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> Template:
        delivery = await dashboard.retry_delivery(session, tenant_id, delivery_id)
        return render(ui, "documents/_delivery_row.html", d=delivery)

    @post("/deliveries/retry")
    async def retry_many(self, request: Req, ui: Ui, session: AsyncSession,
                         tenant_id: uuid.UUID) -> Template:  # fmt: skip
        """The ticked deliveries, or with ``all`` every failed one matching the list's filter."""
        form = await request.form()
        if form.get("all"):
            selection = schemas.DeliveryRetry(
                error_code=str(form.get("error_code") or "") or None, client_id=str(form.get("client_id") or "") or None
            )
            count, more = await dashboard.retry_deliveries(session, tenant_id, selection)
        else:
            ids = await form_values(request, "delivery_id")
            if not ids:
                raise Unprocessable(
                    "Tick the deliveries to retry.", errors=[FieldError(pointer="/delivery_id", detail="none")]
                )
            for raw in ids:
                await dashboard.retry_delivery(session, tenant_id, uuid.UUID(raw))
            count, more = len(ids), False
        message = ui.ngettext("{n} delivery queued again.", "{n} deliveries queued again.", count)
        if more:
            message += " " + ui.gettext("More remain: retry again for the next batch.")
        return render(ui, "_flash.html", level="ok", message=message)

    @get("/templates")
    async def template_list(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, mapped: bool | None = None,
        cursor: str | None = None,
    ) -> Template:  # fmt: skip
        rows, next_cursor = await templates.list_templates(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor), mapped=mapped
        )
        return render(
            ui, "documents/templates.html", templates=rows, next_cursor=next_cursor,
            filters={"mapped": str(mapped).lower()} if mapped is not None else {},
            unmapped=await templates.count_unmapped(session, tenant_id),
        )  # fmt: skip

    @get("/folders")
    async def model_folders(
        self, ui: Ui, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, model_client_id: str = ""
    ) -> Template:
        """A model client's folder names, to pick a destination from (only names are read)."""
        client_id = model_client_id
        if not client_id.strip():
            raise Unprocessable(
                "Give the model client's id.", errors=[FieldError(pointer="/client_id", detail="empty")]
            )
        paths = await integration.model_client_folders(session, runtime, tenant_id, client_id.strip())
        return render(ui, "documents/_folders.html", paths=paths, client_id=client_id.strip())

    @post("/templates/destinations")
    async def assign(self, request: Req, ui: Ui, session: AsyncSession,
                     runtime: Runtime, tenant_id: uuid.UUID) -> Template:  # fmt: skip
        """One folder for the ticked templates: typed, or picked from a model client's tree."""
        form = await request.form()
        picked = str(form.get("model_folder") or "")
        model_client = str(form.get("model_client_id") or "").strip() or None
        raw = {
            "template_ids": await form_values(request, "template_id"),
            "folder_path": _folder(picked or str(form.get("folder_path") or "")),
            "model_client_id": model_client if picked else None,
        }
        try:
            data = msgspec.convert(raw, schemas.TemplateDestinationBulk)
        except msgspec.ValidationError as exc:
            raise Unprocessable(ui.gettext("Tick templates and give a folder, e.g. Fiscal > DAS.")) from exc
        if data.model_client_id is not None:
            await integration.ensure_path_in_model(session, runtime, tenant_id, data.model_client_id, data.folder_path)
        updated = await templates.set_destinations(session, tenant_id, data.template_ids, data.folder_path)
        message = ui.ngettext("{n} template now goes to {folder}.", "{n} templates now go to {folder}.", updated,
                              folder=" > ".join(data.folder_path))  # fmt: skip
        response = render(ui, "_flash.html", level="ok", message=message)
        response.headers["HX-Trigger"] = "templates-changed"
        return response

    @post("/templates/defaults")
    async def defaults(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID,
                       data: Annotated[DefaultsForm, Form]) -> Template:  # fmt: skip
        created, mapped = await templates.apply_default_folders(session, tenant_id, overwrite=data.overwrite == "on")
        message = ui.gettext("{created} standard templates created, {mapped} given their department's folder.",
                             created=created, mapped=mapped)  # fmt: skip
        response = render(ui, "_flash.html", level="ok", message=message)
        response.headers["HX-Trigger"] = "templates-changed"
        return response
