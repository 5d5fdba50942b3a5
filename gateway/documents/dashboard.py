"""Reading deliveries, the failure card, and retrying failed ones. Services never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.documents import intake, schemas
from gateway.documents.models import DeliveryStatus, DocumentDelivery
from gateway.errors import Conflict, NotFound
from gateway.pagination import PageParams, paginate
from gateway.tasks import service as tasks_service

CARD_TITLE = "Falha no envio de documentos ao Portal do Cliente"
RETRY_BATCH = 500
RETRY_TASK_SIZE = 50  # deliveries per retry task: one task's batch, delivered concurrently


class DeliveryFilter(schemas.DeliveryRetry, kw_only=True):
    status: DeliveryStatus | None = None


def _filtered(tenant_id: uuid.UUID, f: DeliveryFilter) -> Select[Any]:
    stmt = select(DocumentDelivery).where(DocumentDelivery.tenant_id == tenant_id)
    conditions: list[Any] = []
    if f.status is not None:
        conditions.append(DocumentDelivery.status == f.status)
    if f.error_code is not None:
        conditions.append(DocumentDelivery.error_code == f.error_code)
    if f.client_id is not None:
        conditions.append(DocumentDelivery.client_id == f.client_id)
    if f.template is not None:
        conditions.append(DocumentDelivery.template == f.template)
    if f.source_task_id is not None:
        conditions.append(DocumentDelivery.source_task_id == f.source_task_id)
    if f.created_from is not None:
        conditions.append(DocumentDelivery.created_at >= f.created_from)
    if f.created_to is not None:
        conditions.append(DocumentDelivery.created_at < f.created_to)
    return stmt.where(*conditions)


async def list_deliveries(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageParams, f: DeliveryFilter
) -> tuple[list[DocumentDelivery], str | None]:
    return await paginate(
        session, _filtered(tenant_id, f), page, order_by=[DocumentDelivery.created_at, DocumentDelivery.id]
    )


async def get_delivery(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> DocumentDelivery:
    delivery = await session.scalar(
        select(DocumentDelivery).where(DocumentDelivery.id == delivery_id, DocumentDelivery.tenant_id == tenant_id)
    )
    if delivery is None:  # another tenant's delivery is indistinguishable from a missing one
        raise NotFound(f"Document delivery {delivery_id} does not exist.")
    return delivery


async def summary(
    session: AsyncSession, tenant_id: uuid.UUID, period_from: datetime | None, period_to: datetime | None
) -> schemas.DeliverySummary:
    base = _filtered(tenant_id, DeliveryFilter(created_from=period_from, created_to=period_to)).subquery()
    by_status = {
        str(status): int(n)
        for status, n in await session.execute(select(base.c.status, func.count()).group_by(base.c.status))
    }
    by_code = {
        str(code): int(n)
        for code, n in await session.execute(
            select(base.c.error_code, func.count())
            .where(base.c.status == DeliveryStatus.failed)
            .group_by(base.c.error_code)
        )
    }
    return schemas.DeliverySummary(
        title=CARD_TITLE,
        period_from=period_from,
        period_to=period_to,
        total=sum(by_status.values()),
        failed=by_status.get(DeliveryStatus.failed, 0),
        by_status={s.value: by_status.get(s.value, 0) for s in DeliveryStatus},
        by_error_code=by_code,
    )


async def _requeue(session: AsyncSession, tenant_id: uuid.UUID, delivery_ids: list[uuid.UUID]) -> None:
    """Queue failed deliveries again under one new task of their own.

    The rows move to the new task, so the task that failed them (maybe still running for
    their siblings) no longer touches them.
    """
    task, _ = await tasks_service.create_task(
        session,
        tenant_id=tenant_id,
        kind=intake.DELIVER,
        params={"delivery_ids": [str(i) for i in delivery_ids]},
        subject_id=str(delivery_ids[0]) if len(delivery_ids) == 1 else None,
        trigger="retry",
        max_attempts=intake.DELIVERY_MAX_ATTEMPTS,
    )
    await session.execute(
        update(DocumentDelivery)
        .where(DocumentDelivery.id.in_(delivery_ids), DocumentDelivery.status == DeliveryStatus.failed)
        .values(status=DeliveryStatus.queued, error_code=None, error=None, task_id=task.id, updated_at=utcnow())
    )


async def retry_delivery(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> DocumentDelivery:
    """Run a failed delivery again (after mapping its template, fixing a permission...)."""
    delivery = await get_delivery(session, tenant_id, delivery_id)
    if delivery.status != DeliveryStatus.failed:
        raise Conflict(
            f"Only failed deliveries can be retried; this one is {delivery.status}.",
            extra={"delivery_status": delivery.status},
        )
    await _requeue(session, tenant_id, [delivery.id])
    await session.refresh(delivery)
    return delivery


async def retry_deliveries(session: AsyncSession, tenant_id: uuid.UUID, f: schemas.DeliveryRetry) -> tuple[int, bool]:
    """Retry up to ``RETRY_BATCH`` failed deliveries matching ``f``; ``more`` if others remain."""
    selection = DeliveryFilter(**{k: getattr(f, k) for k in f.__struct_fields__}, status=DeliveryStatus.failed)
    stmt = _filtered(tenant_id, selection).with_only_columns(DocumentDelivery.id)
    ids = list((await session.scalars(stmt.order_by(DocumentDelivery.created_at).limit(RETRY_BATCH + 1))).all())
    for start in range(0, min(len(ids), RETRY_BATCH), RETRY_TASK_SIZE):
        await _requeue(session, tenant_id, ids[start : min(start + RETRY_TASK_SIZE, RETRY_BATCH)])
    return min(len(ids), RETRY_BATCH), len(ids) > RETRY_BATCH
