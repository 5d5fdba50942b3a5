"""Requests the portal frontend makes, and each step of their life.

A request is exported once (the core system deduplicates on its id, which is Ponte's), then
its situation comes back through the status syncs. Every step is an event recorded once per
(request, step), so re-reading a situation never adds history.

The seed has status syncs for the beneficiaries' own registration and address changes but no
export sync for them. Ponte exports those two kinds as soon as they are created (a
``portal.request.export`` task per request) and their status syncs first send any still
pending, so none waits on a sync the seed does not have.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import FieldError, NotFound, Unprocessable
from gateway.pagination import PageParams, paginate
from gateway.partners.core_system import CoreRequestStatus
from gateway.portal.catalogue import SYNCS
from gateway.portal.models import PortalRequest, PortalRequestEvent
from gateway.tasks import service as tasks_service

EXPORT_TASK = "portal.request.export"
# Kinds with an export sync in the catalogue wait for it; the others are sent at creation.
EXPORTED_BY_SYNC = frozenset(k for s in SYNCS.values() if s.direction == "export" for k in s.request_kinds)
NEEDS_SUBJECT = frozenset(
    {
        "card_copy",
        "beneficiary_registration_change",
        "beneficiary_address_change",
        "provider_registration_change",
        "provider_address_change",
    }
)


async def create(
    session: AsyncSession, tenant_id: uuid.UUID, *, kind: str, subject_id: str | None, payload: dict[str, object]
) -> PortalRequest:
    if kind in NEEDS_SUBJECT and not subject_id:
        raise Unprocessable(
            f"A {kind} request names the beneficiary or provider it is about.",
            errors=[FieldError(pointer="/subject_id", detail="required for this kind")],
        )
    if kind not in NEEDS_SUBJECT and not payload:
        raise Unprocessable(
            "A new beneficiary or family request carries their data.",
            errors=[FieldError(pointer="/payload", detail="must not be empty")],
        )
    request = PortalRequest(tenant_id=tenant_id, kind=kind, subject_id=subject_id, payload=payload)
    session.add(request)
    await session.flush()
    await add_event(session, request.id, "created", at=request.created_at)
    if kind not in EXPORTED_BY_SYNC:
        await tasks_service.create_task(
            session, tenant_id=tenant_id, kind=EXPORT_TASK, params={"request_id": str(request.id)},
            subject_id=str(request.id), trigger="event", dedup_key=f"export:{request.id}",
        )  # fmt: skip
    return request


async def get(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID) -> PortalRequest:
    request = await session.get(PortalRequest, request_id)
    if request is None or request.tenant_id != tenant_id:
        raise NotFound(f"Request {request_id} does not exist.")
    return request


async def history(session: AsyncSession, request_id: uuid.UUID) -> list[PortalRequestEvent]:
    """Steps in the order Ponte learnt them; a situation's ``at`` is the core system's own time."""
    stmt = select(PortalRequestEvent).where(PortalRequestEvent.request_id == request_id)
    return list((await session.scalars(stmt.order_by(PortalRequestEvent.id))).all())


async def list_requests(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    kind: str | None = None,
    export_status: str | None = None,
    situation: str | None = None,
    subject_id: str | None = None,
) -> tuple[list[PortalRequest], str | None]:
    stmt = select(PortalRequest).where(PortalRequest.tenant_id == tenant_id)
    for column, value in (
        (PortalRequest.kind, kind),
        (PortalRequest.export_status, export_status),
        (PortalRequest.situation, situation),
        (PortalRequest.subject_id, subject_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return await paginate(session, stmt, page, order_by=[PortalRequest.created_at, PortalRequest.id])


async def add_event(
    session: AsyncSession,
    request_id: uuid.UUID,
    step: str,
    *,
    at: datetime | None = None,
    detail: str | None = None,
    task_id: uuid.UUID | None = None,
) -> None:
    values: dict[str, object] = {"request_id": request_id, "step": step, "detail": detail, "task_id": task_id}
    if at is not None:
        values["at"] = at
    await session.execute(insert(PortalRequestEvent).values(**values).on_conflict_do_nothing())


def apply_status(request: PortalRequest, status: CoreRequestStatus) -> bool:
    """Take the core system's view of a request; ``True`` when something changed.

    A situation older than the one held is ignored (pages and retries may arrive late).
    """
    if request.situation_at is not None and status.updated_at < request.situation_at:
        return False
    changed = False
    if request.export_status != "exported":  # sent before a crash lost our record of it
        request.export_status, request.exported_at, request.export_error = "exported", status.received_at, None
        changed = True
    new = (status.protocol, status.situation, status.reason)
    if new != (request.protocol, request.situation, request.reason):
        request.protocol, request.situation, request.reason = new
        changed = True
    request.situation_at = status.updated_at
    return changed
