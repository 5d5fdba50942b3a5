"""Card-sales reconciliation API: establishment, sales intake and corrections, runs, queue, summary."""

from __future__ import annotations

import uuid
from datetime import date

from litestar import Controller, Response, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Stream
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.errors import Conflict
from gateway.pagination import PageParams
from gateway.reconciliation import establishment, exports, intake, queries, schemas
from gateway.reconciliation.flows import RUN_KIND
from gateway.reconciliation.models import EstablishmentSetting
from gateway.runtime import Runtime
from gateway.tasks import service as tasks_service
from gateway.tasks.models import Task as TaskModel
from gateway.tasks.models import TaskStatus
from gateway.tasks.schemas import Task


def _setting(s: EstablishmentSetting) -> schemas.EstablishmentSetting:
    return schemas.EstablishmentSetting(
        establishment_code=s.establishment_code,
        base_url=s.base_url,
        timezone=s.timezone,
        enabled=s.enabled,
        has_api_token=s.api_token_encrypted is not None,
        webhook_endpoint_id=s.webhook_endpoint_id,
        updated_at=s.updated_at,
    )


class ReconciliationController(Controller):
    path = "/v1/reconciliation"
    tags = ["Card reconciliation"]

    @get("/establishment", operation_id="GetBoavistaEstablishment", summary="The tenant's Boavista establishment")
    async def get_establishment(self, session: AsyncSession, tenant_id: uuid.UUID) -> schemas.EstablishmentSetting:
        return _setting(await establishment.get_setting(session, tenant_id))

    @put(
        "/establishment",
        operation_id="UpdateBoavistaEstablishment",
        summary="Set the Boavista establishment; enabling checks it and wires the return webhook",
    )
    async def update_establishment(
        self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, data: schemas.EstablishmentSettingUpdate
    ) -> schemas.EstablishmentSetting:
        setting = await establishment.update_setting(session, runtime, tenant_id, data)
        await session.refresh(setting)
        return _setting(setting)

    @post(
        "/sales",
        operation_id="ReceiveCardSales",
        summary="Receive up to 1,000 ERP card sales; idempotent on sale_id, invalid rows rejected one by one",
        responses={
            207: ResponseSpec(data_container=schemas.CardSaleBatchResult, description="Some rows were rejected")
        },
    )
    async def receive_sales(
        self, session: AsyncSession, tenant_id: uuid.UUID, data: schemas.CardSaleBatch
    ) -> Response[schemas.CardSaleBatchResult]:
        """200 when every row was accepted, 207 when some (or all) were rejected: each rejected
        row has its index and a JSON pointer per problem (``/items/3/installments``)."""
        result = await intake.receive_batch(session, tenant_id, data.items)
        return Response(result, status_code=207 if result.rejected else 200)

    @get("/sales", operation_id="ListCardSales", summary="ERP card sales with their reconciliation status")
    async def list_sales(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        status: schemas.SaleStatusName | None = None,
        brand: str | None = None,
        day: date | None = None,
    ) -> schemas.CardSalePage:
        statuses = (status,) if status else None
        items, cursor = await queries.list_sales(session, tenant_id, page, statuses=statuses, brand=brand, day=day)
        return schemas.CardSalePage(items=items, next_cursor=cursor)

    @get("/sales/{sale_id:str}", operation_id="GetCardSale", summary="A card sale with its history and matches")
    async def get_sale(self, session: AsyncSession, tenant_id: uuid.UUID, sale_id: str) -> schemas.CardSale:
        return await queries.sale_detail(session, tenant_id, await intake.get_sale(session, tenant_id, sale_id))

    @patch(
        "/sales/{sale_id:str}",
        operation_id="CorrectCardSale",
        summary="Correct a sale; it goes back in line with a fresh three-day window",
    )
    async def correct_sale(
        self, session: AsyncSession, tenant_id: uuid.UUID, sale_id: str, data: schemas.CardSaleCorrection
    ) -> schemas.CardSale:
        sale = await intake.correct_sale(session, tenant_id, sale_id, data)
        return await queries.sale_detail(session, tenant_id, sale)

    @get(
        "/divergences",
        operation_id="ListDivergences",
        summary="Divergent and expired sales, largest amount first, with the reason",
    )
    async def list_divergences(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        status: schemas.SaleStatusName | None = None,
        brand: str | None = None,
        day: date | None = None,
    ) -> schemas.CardSalePage:
        items, cursor = await queries.divergence_queue(session, tenant_id, page, status=status, brand=brand, day=day)
        return schemas.CardSalePage(items=items, next_cursor=cursor)

    @get(
        "/divergences.csv", operation_id="ExportDivergences", media_type="text/csv",
        summary="The divergence queue as CSV, largest amount first",
    )  # fmt: skip
    async def export_divergences(
        self,
        runtime: Runtime,
        tenant_id: uuid.UUID,
        status: schemas.SaleStatusName | None = None,
        brand: str | None = None,
        day: date | None = None,
    ) -> Stream:
        """The same selection as ``GET /divergences``, every page at once, streamed."""
        rows = exports.divergences_csv(runtime, tenant_id, status=status, brand=brand, day=day)
        headers = {"content-disposition": 'attachment; filename="divergences.csv"'}
        return Stream(rows, media_type="text/csv", headers=headers)

    @get(
        "/summary.csv", operation_id="ExportReconciliationSummary", media_type="text/csv",
        summary="The day's summary as CSV: a row per status and per divergence reason",
    )  # fmt: skip
    async def export_summary(self, session: AsyncSession, tenant_id: uuid.UUID, day: date) -> Response[str]:
        body = exports.summary_csv(await queries.summary(session, tenant_id, day))
        headers = {"content-disposition": f'attachment; filename="reconciliation-summary-{day}.csv"'}
        return Response(body, media_type="text/csv", headers=headers)

    @get("/summary", operation_id="GetReconciliationSummary", summary="Counts and amounts by status for one local day")
    async def get_summary(
        self, session: AsyncSession, tenant_id: uuid.UUID, day: date
    ) -> schemas.ReconciliationSummary:
        return await queries.summary(session, tenant_id, day)

    @post(
        "/runs",
        operation_id="StartReconciliationRun",
        summary="Fetch the last three days from Boavista, match, expire and remit now",
        status_code=202,
    )
    async def start_run(self, session: AsyncSession, tenant_id: uuid.UUID) -> Task:
        """One run at a time per tenant: a run still queued or running answers 409 with its id."""
        await establishment.get_setting(session, tenant_id)
        running = await session.scalar(
            select(TaskModel.id).where(
                TaskModel.tenant_id == tenant_id,
                TaskModel.kind == RUN_KIND,
                TaskModel.status.in_((TaskStatus.queued, TaskStatus.running)),
            )
        )
        if running is not None:
            raise Conflict("A reconciliation run is already in progress.", extra={"task_id": str(running)})
        task, _ = await tasks_service.create_task(
            session, tenant_id=tenant_id, kind=RUN_KIND, trigger="manual", params={"now": utcnow().isoformat()}
        )
        return Task.from_model(task)

    @get("/remittances", operation_id="ListRemittances", summary="Remittances sent to Boavista, newest first")
    async def list_remittances(
        self, session: AsyncSession, tenant_id: uuid.UUID, page: PageParams
    ) -> schemas.RemittancePage:
        items, cursor = await queries.list_remittances(session, tenant_id, page)
        return schemas.RemittancePage(items=items, next_cursor=cursor)

    @get("/remittances/{remittance_id:str}", operation_id="GetRemittance", summary="A remittance and its return counts")
    async def get_remittance(
        self, session: AsyncSession, tenant_id: uuid.UUID, remittance_id: str
    ) -> schemas.Remittance:
        return await queries.get_remittance(session, tenant_id, remittance_id)
