"""HTTP API of the documents capability: templates, portal integration, deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.documents import dashboard, error_guide, integration, schemas, templates
from gateway.documents.models import DeliveryStatus, DocumentDelivery, DocumentTemplate
from gateway.errors import NotFound
from gateway.pagination import PageParams
from gateway.runtime import Runtime
from gateway.settings import Settings


def _template(t: DocumentTemplate) -> schemas.DocumentTemplate:
    return schemas.DocumentTemplate(
        id=t.id,
        name=t.name,
        department=t.department,
        folder_path=t.folder_path,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def _delivery(d: DocumentDelivery) -> schemas.DocumentDelivery:
    return schemas.DocumentDelivery(
        id=d.id,
        status=DeliveryStatus(d.status),
        error_code=d.error_code,
        error=d.error,
        error_guide=error_guide.guide_link(d.error_code),
        source_task_id=d.source_task_id,
        task_id=d.task_id,
        client_id=d.client_id,
        employee=d.employee,
        completed_at=d.completed_at,
        document_id=d.document_id,
        template=d.template,
        origin=d.origin,
        file_name=d.file_name,
        folder_path=d.folder_path,
        name_used=d.name_used,
        replaced=d.replaced,
        sha256=d.sha256,
        size=d.size,
        attempts=d.attempts,
        event_id=d.event_id,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


def _guide_entry(code: str, language: str) -> schemas.DeliveryErrorCode:
    entry = error_guide.ENTRIES[code]
    text = entry.texts[language]
    return schemas.DeliveryErrorCode(
        code, DeliveryStatus(entry.status), entry.retry, text.title, text.meaning, text.fix, text.who
    )


def _localized(body: schemas.DeliveryErrorGuide | schemas.DeliveryErrorCode, language: str) -> Response[Any]:
    return Response(body, headers={"Content-Language": language, "Vary": "Accept-Language"})


class DocumentTemplateController(Controller):
    """Document templates and the client-portal folder each one's documents go to."""

    path = "/v1/document-templates"
    tags = ["Documents"]

    @post("/", operation_id="CreateDocumentTemplate", summary="Create a document template")
    async def create(
        self, session: AsyncSession, tenant_id: uuid.UUID, data: schemas.DocumentTemplateCreate
    ) -> schemas.DocumentTemplate:
        return _template(await templates.create_template(session, tenant_id, data))

    @get(
        "/",
        operation_id="ListDocumentTemplates",
        summary="List templates; mapped=false lists those without destination",
    )
    async def list_templates(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        department: str | None = None,
        mapped: Annotated[bool | None, Parameter(description="false: templates with no destination folder")] = None,
    ) -> schemas.DocumentTemplatePage:
        rows, cursor = await templates.list_templates(session, tenant_id, page, department=department, mapped=mapped)
        return schemas.DocumentTemplatePage(items=[_template(t) for t in rows], next_cursor=cursor)

    @get("/{template_id:uuid}", operation_id="GetDocumentTemplate", summary="A document template")
    async def get_template(
        self, session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID
    ) -> schemas.DocumentTemplate:
        return _template(await templates.get_template(session, tenant_id, template_id))

    @patch(
        "/{template_id:uuid}",
        operation_id="UpdateDocumentTemplate",
        summary="Rename, move or set the destination folder",
    )
    async def update(
        self, session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID, data: schemas.DocumentTemplateUpdate
    ) -> schemas.DocumentTemplate:
        return _template(await templates.update_template(session, tenant_id, template_id, data))

    @delete("/{template_id:uuid}", operation_id="DeleteDocumentTemplate", summary="Delete a document template")
    async def delete_template(self, session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID) -> None:
        await templates.delete_template(session, tenant_id, template_id)

    @post(
        "/destinations",
        operation_id="SetDocumentTemplateDestinations",
        summary="One destination folder for many templates",
    )
    async def set_destinations(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, data: schemas.TemplateDestinationBulk
    ) -> schemas.TemplateDestinationsSet:
        if data.model_client_id is not None:
            await integration.ensure_path_in_model(session, runtime, tenant_id, data.model_client_id, data.folder_path)
        updated = await templates.set_destinations(session, tenant_id, data.template_ids, data.folder_path)
        return schemas.TemplateDestinationsSet(
            updated=updated, unmapped_templates=await templates.count_unmapped(session, tenant_id)
        )

    @post(
        "/default-folders", operation_id="ApplyDefaultDocumentFolders", summary="Apply the department default folders"
    )
    async def apply_defaults(
        self, session: AsyncSession, tenant_id: uuid.UUID, data: schemas.DefaultFoldersApply
    ) -> schemas.DefaultFoldersApplied:
        """Creates the standard templates (DAS, Resumo da Folha de Pagamento, Balancete...) the
        firm lacks, with their department folder (Fiscal > DAS, Pessoal > Resumo Mensal,
        Contabilidade > Balancetes...), and gives standard templates without destination theirs."""
        created, mapped = await templates.apply_default_folders(session, tenant_id, overwrite=data.overwrite)
        return schemas.DefaultFoldersApplied(created, mapped, await templates.count_unmapped(session, tenant_id))


class DocumentPortalController(Controller):
    """The firm's client-portal integration and a model client's folder tree."""

    path = "/v1/document-portal"
    tags = ["Documents"]

    @get("/integration", operation_id="GetPortalIntegration", summary="The client-portal integration setting")
    async def get_integration(
        self, session: AsyncSession, tenant_id: uuid.UUID, settings: Settings
    ) -> schemas.PortalIntegration:
        return await integration.describe(session, tenant_id, settings)

    @put(
        "/integration",
        operation_id="UpdatePortalIntegration",
        summary="Configure, enable or disable the integration",
        problems=[503],  # enabling checks the token with the portal
    )
    async def update_integration(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, data: schemas.PortalIntegrationUpdate
    ) -> schemas.PortalIntegration:
        """The token is stored encrypted and never returned. The answer says how many templates
        still have no destination: their documents will fail with ``template_unmapped``."""
        return await integration.update_integration(session, tenant_id, data, runtime)

    @post(
        "/integration/check",
        operation_id="CheckPortalIntegration",
        summary="Check the portal connection; deliveries wait for it",
        status_code=200,
        problems=[503],
    )
    async def check_integration(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID
    ) -> schemas.PortalIntegration:
        """Asks the portal whether it accepts the stored token: 422 (``/token``) if it refuses,
        503 if it does not answer. Until a check succeeds deliveries fail ``portal_unchecked``."""
        return await integration.check_integration(session, tenant_id, runtime)

    @get(
        "/clients/{client_id:str}/folders",
        operation_id="ListPortalClientFolders",
        summary="A model client's folder names",
    )
    async def client_folders(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, client_id: str
    ) -> schemas.PortalFolderTree:
        """Only folder names are read, to choose a destination; no file of that client is."""
        paths = await integration.model_client_folders(session, runtime, tenant_id, client_id)
        return schemas.PortalFolderTree(client_id, [schemas.PortalFolderPath(p) for p in paths])


class DocumentDeliveryController(Controller):
    """Deliveries of completed tasks' documents to the client portal.

    One delivery per document of a ``task.completed`` event. Deleting a document or a task in
    the task system is **not** propagated: files already in the portal stay there and must be
    deleted in both places. Re-sending a document with the same name replaces the portal file
    unless the client has viewed it; then it is stored as ``Name (1).ext``, ``Name (2).ext``...
    """

    path = "/v1/document-deliveries"
    tags = ["Documents"]

    @get("/", operation_id="ListDocumentDeliveries", summary="List deliveries, newest first")
    async def list_deliveries(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        status: DeliveryStatus | None = None,
        error_code: str | None = None,
        client_id: str | None = None,
        template: str | None = None,
        source_task_id: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> schemas.DocumentDeliveryPage:
        f = dashboard.DeliveryFilter(
            status=status,
            error_code=error_code,
            client_id=client_id,
            template=template,
            source_task_id=source_task_id,
            created_from=created_from,
            created_to=created_to,
        )
        rows, cursor = await dashboard.list_deliveries(session, tenant_id, page, f)
        return schemas.DocumentDeliveryPage(items=[_delivery(d) for d in rows], next_cursor=cursor)

    @get("/summary", operation_id="GetDocumentDeliverySummary", summary="Counts by status and error over a period")
    async def summary(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        period_from: Annotated[datetime | None, Parameter(query="from")] = None,
        period_to: Annotated[datetime | None, Parameter(query="to")] = None,
    ) -> schemas.DeliverySummary:
        """The "Falha no envio de documentos ao Portal do Cliente" card: deliveries created in
        [from, to) by status, and failed ones by error code."""
        return await dashboard.summary(session, tenant_id, period_from, period_to)

    @get("/error-codes", operation_id="ListDeliveryErrorCodes", summary="The delivery error guide")
    async def error_codes(
        self, accept_language: Annotated[str | None, Parameter(header="Accept-Language")] = None
    ) -> Response[schemas.DeliveryErrorGuide]:
        """Every delivery error code with what it means, how to fix it and who must act, in
        Brazilian Portuguese (``pt-BR``, any ``pt``) or English, chosen by ``Accept-Language``."""
        language = error_guide.negotiate(accept_language)
        items = [_guide_entry(code, language) for code in error_guide.ENTRIES]
        return _localized(schemas.DeliveryErrorGuide(language=language, items=items), language)

    @get("/error-codes/{code:str}", operation_id="GetDeliveryErrorCode", summary="One delivery error code")
    async def error_code(
        self, code: str, accept_language: Annotated[str | None, Parameter(header="Accept-Language")] = None
    ) -> Response[schemas.DeliveryErrorCode]:
        if code not in error_guide.ENTRIES:
            raise NotFound(f"There is no delivery error code {code!r}.")
        language = error_guide.negotiate(accept_language)
        return _localized(_guide_entry(code, language), language)

    @get("/{delivery_id:uuid}", operation_id="GetDocumentDelivery", summary="A delivery")
    async def get_delivery(
        self, session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> schemas.DocumentDelivery:
        return _delivery(await dashboard.get_delivery(session, tenant_id, delivery_id))

    @post(
        "/{delivery_id:uuid}/retry",
        operation_id="RetryDocumentDelivery",
        summary="Retry a failed delivery",
        status_code=202,
    )
    async def retry(
        self, session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> schemas.DocumentDelivery:
        return _delivery(await dashboard.retry_delivery(session, tenant_id, delivery_id))

    @post(
        "/retry",
        operation_id="RetryDocumentDeliveries",
        summary="Retry failed deliveries matching a filter",
        status_code=202,
    )
    async def retry_many(
        self, session: AsyncSession, tenant_id: uuid.UUID, data: schemas.DeliveryRetry
    ) -> schemas.DeliveriesRequeued:
        requeued, more = await dashboard.retry_deliveries(session, tenant_id, data)
        return schemas.DeliveriesRequeued(requeued=requeued, more=more)
