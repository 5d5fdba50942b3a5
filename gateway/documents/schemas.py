"""API shapes of the documents capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from gateway.documents.models import DeliveryStatus

FolderName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^/\s]([^/]*[^/\s])?$")]
FolderPath = Annotated[
    list[FolderName],
    msgspec.Meta(min_length=1, max_length=10, description='Folder names from the root, e.g. ["Fiscal", "DAS"]'),
]
TemplateName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Department = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class DocumentTemplate(msgspec.Struct):
    """A document type and the client-portal folder its documents go to."""

    id: uuid.UUID
    name: str
    department: str | None
    folder_path: list[str] | None  # None: "Nenhuma pasta selecionada"; deliveries fail template_unmapped
    created_at: datetime
    updated_at: datetime


class DocumentTemplateCreate(msgspec.Struct):
    name: TemplateName
    department: Department | None = None
    folder_path: FolderPath | None = None


class DocumentTemplateUpdate(msgspec.Struct):
    """Only the members sent change; ``folder_path: null`` removes the destination."""

    name: TemplateName | msgspec.UnsetType = msgspec.UNSET
    department: Department | msgspec.UnsetType | None = msgspec.UNSET
    folder_path: FolderPath | msgspec.UnsetType | None = msgspec.UNSET


class DocumentTemplatePage(msgspec.Struct):
    items: list[DocumentTemplate]
    next_cursor: str | None


class TemplateDestinationBulk(msgspec.Struct):
    """One folder for many templates; with ``model_client_id`` the path must exist in that
    client's portal tree (only the folder names are copied, nothing else of that client)."""

    template_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=1000)]
    folder_path: FolderPath
    model_client_id: str | None = None


class TemplateDestinationsSet(msgspec.Struct):
    updated: int
    unmapped_templates: int


class DefaultFoldersApply(msgspec.Struct):
    # False keeps destinations people chose; True puts every standard template back on its default.
    overwrite: bool = False


class DefaultFoldersApplied(msgspec.Struct):
    created: int  # standard templates the firm did not have yet
    mapped: int  # templates given their department's default folder
    unmapped_templates: int


class PortalFolderPath(msgspec.Struct):
    path: list[str]


class PortalFolderTree(msgspec.Struct):
    """A model client's folder names, to choose a destination from."""

    client_id: str
    folders: list[PortalFolderPath]


class PortalIntegration(msgspec.Struct):
    """The firm's client-portal connection. The token is stored encrypted and never returned."""

    base_url: str
    enabled: bool  # new firms start with the integration on, as in the seed
    token_set: bool
    unmapped_templates: int  # enabling with templates unmapped works, but their documents fail
    updated_at: datetime | None
    checked_at: datetime | None  # when the portal last accepted this address and token
    # Why deliveries are refused now (not checked yet), with the unmapped count; None when sent.
    refusal: str | None


class PortalIntegrationUpdate(msgspec.Struct):
    enabled: bool
    base_url: Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=500)] | None = None  # default: sandbox
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None  # omit to keep the stored one
    # "Habilitar configuração de pastas padrão nos documentos": apply department defaults too.
    apply_default_folders: bool = False


class DocumentDelivery(msgspec.Struct):
    """One document of a completed task and what became of it in the client portal."""

    id: uuid.UUID
    status: DeliveryStatus
    error_code: str | None
    error: str | None
    error_guide: str | None  # the error code's entry: GET /v1/document-deliveries/error-codes/{code}
    source_task_id: str  # the task system's task
    task_id: uuid.UUID | None  # Ponte's background task doing the delivery (GET /v1/tasks/{id})
    client_id: str
    employee: str | None
    completed_at: datetime
    document_id: str
    template: str
    origin: str
    file_name: str
    folder_path: list[str] | None
    name_used: str | None  # "DAS Janeiro (1).pdf" when the original was viewed (locked)
    replaced: bool | None
    sha256: str | None
    size: int | None
    attempts: int
    event_id: uuid.UUID
    created_at: datetime
    delivered_at: datetime | None


class DocumentDeliveryPage(msgspec.Struct):
    items: list[DocumentDelivery]
    next_cursor: str | None


class DeliverySummary(msgspec.Struct):
    """The dashboard card "Falha no envio de documentos ao Portal do Cliente" over a period."""

    title: str
    period_from: datetime | None
    period_to: datetime | None
    total: int
    failed: int
    by_status: dict[str, int]
    by_error_code: dict[str, int]  # failed deliveries only


class DeliveryRetry(msgspec.Struct):
    """Which failed deliveries to run again; every member narrows the selection."""

    error_code: str | None = None
    client_id: str | None = None
    template: str | None = None
    source_task_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class DeliveriesRequeued(msgspec.Struct):
    requeued: int
    more: bool  # more matched than one call requeues; call again


class DeliveryErrorCode(msgspec.Struct):
    """One entry of the delivery error guide, in the language negotiated."""

    code: str
    status: DeliveryStatus  # what a delivery with this code is: failed or skipped
    retry: bool  # a retry after the fix delivers it
    title: str
    meaning: str
    fix: str
    who: str  # who must act; for permission_denied, who must grant the permission


class DeliveryErrorGuide(msgspec.Struct):
    """ "ERROS INTEGRAÇÃO PORTAL DO CLIENTE": every delivery error code."""

    language: str
    items: list[DeliveryErrorCode]
