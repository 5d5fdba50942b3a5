"""Insurer catalogue, connections and import tasks: thin handlers over the services."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import NotFound
from gateway.imports import connections, health, preview, service
from gateway.imports.catalogue import INSURERS
from gateway.imports.health import HealthStatus
from gateway.imports.schemas import (
    Connection,
    ConnectionCreate,
    ConnectionPage,
    ConnectionTest,
    ConnectionUpdate,
    ImportCreate,
    ImportLaunch,
    ImportResult,
    ImportResultPage,
    ImportTask,
    ImportTaskPage,
    Insurer,
    InsurerPage,
    PreviewCreate,
    PreviewItem,
    PreviewItemPage,
    Trigger,
)
from gateway.pagination import PageParams
from gateway.runtime import Runtime
from gateway.tasks.models import TaskStatus

Outcome = Literal["created", "updated", "unchanged", "stale_skipped", "failed", "settled_kept"]


class InsurerController(Controller):
    path = "/v1/insurers"
    tags = ["Insurer imports"]

    @get("/", operation_id="ListInsurers", summary="Every insurer Ponte imports from, with its options")
    async def list_insurers(self) -> InsurerPage:
        return InsurerPage(items=[Insurer.from_catalogue(i) for i in INSURERS.values()])

    @get("/{code:str}", operation_id="GetInsurer", summary="One insurer of the catalogue")
    async def get_insurer(self, code: str) -> Insurer:
        if code not in INSURERS:
            raise NotFound(f"No insurer '{code}'.")
        return Insurer.from_catalogue(INSURERS[code])


class ConnectionController(Controller):
    path = "/v1/insurer-connections"
    tags = ["Insurer imports"]

    @post("/", operation_id="CreateInsurerConnection", summary="Connect the tenant to an insurer")
    async def create_connection(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, data: ConnectionCreate
    ) -> Connection:
        return connections.to_schema(await connections.create_connection(session, runtime, tenant_id, data))

    @get("/", operation_id="ListInsurerConnections", summary="The tenant's insurer connections, with their health")
    async def list_connections(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        health_status: Annotated[
            HealthStatus | None, Parameter(query="health", description="failing: every red insurer at once")
        ] = None,
    ) -> ConnectionPage:
        rows, cursor = await connections.list_connections(session, tenant_id, page, health_status=health_status)
        by_id = await health.health_of(session, rows)
        return ConnectionPage(items=[connections.to_schema(c, by_id[c.id]) for c in rows], next_cursor=cursor)

    @get(
        "/{connection_id:uuid}",
        operation_id="GetInsurerConnection",
        summary="One connection (credentials are never returned)",
    )
    async def get_connection(self, session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> Connection:
        connection = await connections.get_connection(session, tenant_id, connection_id)
        return connections.to_schema(connection, (await health.health_of(session, [connection]))[connection.id])

    @patch(
        "/{connection_id:uuid}", operation_id="UpdateInsurerConnection", summary="Change credentials, options, schedule"
    )
    async def update_connection(
        self,
        session: AsyncSession,
        runtime: Runtime,
        tenant_id: uuid.UUID,
        connection_id: uuid.UUID,
        data: ConnectionUpdate,
    ) -> Connection:
        return connections.to_schema(
            await connections.update_connection(session, runtime, tenant_id, connection_id, data)
        )

    @delete(
        "/{connection_id:uuid}", operation_id="DeleteInsurerConnection", summary="Remove a connection (policies stay)"
    )
    async def delete_connection(self, session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> None:
        await connections.delete_connection(session, tenant_id, connection_id)

    @post(
        "/{connection_id:uuid}/test", operation_id="TestInsurerConnection", status_code=200,
        summary="Call the insurer with the stored credentials (503: insurer down; 422: refused)",
    )  # fmt: skip
    async def test_connection(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, connection_id: uuid.UUID
    ) -> ConnectionTest:
        return await connections.check_connection(
            runtime, await connections.get_connection(session, tenant_id, connection_id)
        )

    @post(
        "/{connection_id:uuid}/imports", operation_id="LaunchImport", status_code=202,
        summary="Import a period or one policy now; past periods of as-of-period insurers chain forward to today",
    )  # fmt: skip
    async def launch_import(
        self, session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID, data: ImportCreate
    ) -> ImportLaunch:
        return await service.launch_import(session, tenant_id, connection_id, data)

    @post(
        "/{connection_id:uuid}/previews", operation_id="PreviewImport", status_code=202,
        summary="Read the insurer's policy list for a period without importing it",
    )  # fmt: skip
    async def launch_preview(
        self, session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID, data: PreviewCreate
    ) -> ImportTask:
        """Agent21's "Odczytaj listę polis": a task that lists the period's policies, each flagged
        "already in Ponte" and "changed since the last import" (``GET /v1/import-previews/{id}/items``).
        Then ``POST .../imports`` with ``preview_id`` and the ``policy_numbers`` kept imports them."""
        return service.to_import_task(await service.launch_preview(session, tenant_id, connection_id, data))

    @get(
        "/{connection_id:uuid}/imports", operation_id="ListConnectionImports", summary="The connection's import history"
    )
    async def list_imports(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        connection_id: uuid.UUID,
        page: PageParams,
        status: TaskStatus | None = None,
        trigger: Trigger | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> ImportTaskPage:
        rows, cursor = await service.list_imports(
            session,
            tenant_id,
            connection_id,
            page,
            status=status,
            trigger=trigger,
            created_from=created_from,
            created_to=created_to,
        )
        return ImportTaskPage(items=[service.to_import_task(t) for t in rows], next_cursor=cursor)


class ImportPreviewController(Controller):
    path = "/v1/import-previews"
    tags = ["Insurer imports"]

    @get("/{preview_id:uuid}", operation_id="GetImportPreview", summary="A preview task: status, progress, listed")
    async def get_preview(self, session: AsyncSession, tenant_id: uuid.UUID, preview_id: uuid.UUID) -> ImportTask:
        return service.to_import_task(await preview.get_preview(session, tenant_id, preview_id))

    @get("/{preview_id:uuid}/items", operation_id="ListImportPreviewItems", summary="The listed policies, flagged")
    async def list_items(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        preview_id: uuid.UUID,
        page: PageParams,
        in_ponte: bool | None = None,
        changed: bool | None = None,
    ) -> PreviewItemPage:
        rows, cursor = await preview.list_items(
            session, tenant_id, preview_id, page, in_ponte=in_ponte, changed=changed
        )
        items = [
            PreviewItem(r.policy_number, r.insurer, r.holder_name, r.product, r.status, r.updated_on, r.in_ponte,
                        r.changed, r.preselected, r.error)
            for r in rows
        ]  # fmt: skip
        return PreviewItemPage(items=items, next_cursor=cursor)


class ImportController(Controller):
    path = "/v1/imports"
    tags = ["Insurer imports"]

    @get("/{task_id:uuid}", operation_id="GetImport", summary="An import task with its windows, progress and counters")
    async def get_import(self, session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> ImportTask:
        return service.to_import_task(await service.get_import(session, tenant_id, task_id))

    @get("/{task_id:uuid}/results", operation_id="ListImportResults", summary="One row per record read, with its error")
    async def list_results(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        task_id: uuid.UUID,
        page: PageParams,
        outcome: Outcome | None = None,
    ) -> ImportResultPage:
        rows, cursor = await service.list_results(session, tenant_id, task_id, page, outcome)
        items = [
            ImportResult(r.id, r.record_type, r.policy_number, r.receipt_number, r.outcome, r.error, r.as_of)  # type: ignore[arg-type]
            for r in rows
        ]
        return ImportResultPage(items=items, next_cursor=cursor)

    @get(
        "/{task_id:uuid}/results.csv", operation_id="ExportImportResults", media_type="text/csv",
        summary="The task's detail as CSV",
    )  # fmt: skip
    async def export_results(
        self,
        session: AsyncSession,
        runtime: Runtime,
        tenant_id: uuid.UUID,
        task_id: uuid.UUID,
        outcome: Outcome | None = None,
    ) -> Stream:
        await service.get_import(session, tenant_id, task_id)
        headers = {"content-disposition": f'attachment; filename="import-{task_id}.csv"'}
        rows = service.export_results_csv(runtime, task_id, outcome)
        return Stream(rows, media_type="text/csv", headers=headers)
