"""Export syncs send pending requests to the core system; status syncs bring back their situation.

Exactly once: a request is sent with Ponte's id, which the core system deduplicates on, and
marked exported in a later transaction. A crash between the two sends it again on the next
attempt; the core system answers with the same protocol, and the export is recorded once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import cast

from sqlalchemy import select

from gateway.db.base import utcnow
from gateway.partners.core_system import CoreRequestStatus, CoreRequestSubmission, CoreSystemClient, RequestKind
from gateway.partners.errors import PermanentPartnerError
from gateway.portal import requests as portal_requests
from gateway.portal import state as sync_state
from gateway.portal.catalogue import SyncDefinition
from gateway.portal.imports import EPOCH, OVERLAP, prefetch
from gateway.portal.models import PortalRequest, SyncFailure
from gateway.tasks.models import TaskStatus
from gateway.tasks.runner import TaskContext, TaskOutcome

BATCH = 100
STATUS_PAGE = 1_000
# Failures that say the connection is wrong, not the request: the whole run fails.
CONNECTION_CODES = frozenset({"unauthorized", "permission_denied", "invalid_response"})


async def export_pending(
    ctx: TaskContext, client: CoreSystemClient, kinds: Iterable[str], *, request_ids: list[uuid.UUID] | None = None
) -> None:
    """Send every pending request of ``kinds`` (or just ``request_ids``), a batch at a time."""
    kinds = list(kinds)
    attempted: set[uuid.UUID] = set()
    while True:
        async with ctx.runtime.db.sessionmaker() as session:
            stmt = select(PortalRequest).where(
                PortalRequest.tenant_id == ctx.tenant_id,
                PortalRequest.kind.in_(kinds),
                PortalRequest.export_status == "pending",
            )
            if request_ids is not None:
                stmt = stmt.where(PortalRequest.id.in_(request_ids))
            if attempted:
                stmt = stmt.where(PortalRequest.id.not_in(attempted))
            batch = list((await session.scalars(stmt.order_by(PortalRequest.created_at).limit(BATCH))).all())
        if not batch:
            return
        sent: list[CoreRequestStatus] = []
        rejected: list[tuple[PortalRequest, str]] = []
        for request in batch:
            attempted.add(request.id)
            submission = CoreRequestSubmission(
                id=str(request.id),
                kind=cast("RequestKind", request.kind),  # validated at creation
                subject_id=request.subject_id,
                payload=request.payload,
            )
            try:
                sent.append(await client.submit_request(submission))
            except PermanentPartnerError as exc:
                if exc.code in CONNECTION_CODES:
                    raise
                rejected.append((request, f"{exc.code}: {exc.detail}"))
        await record_exports(ctx, sent, rejected)


async def record_exports(
    ctx: TaskContext, sent: list[CoreRequestStatus], rejected: list[tuple[PortalRequest, str]]
) -> None:
    async with ctx.runtime.db.unit_of_work() as session:
        by_id = await _lock_requests(session, ctx.tenant_id, [s.id for s in sent])
        for status in sent:
            request = by_id[uuid.UUID(status.id)]
            ctx.count("exported" if request.export_status != "exported" else "already_exported")
            request.export_status, request.exported_at, request.export_error = "exported", utcnow(), None
            portal_requests.apply_status(request, status)
            await portal_requests.add_event(session, request.id, "exported", detail=f"protocol {status.protocol}",
                                            task_id=ctx.task_id)  # fmt: skip
            await portal_requests.add_event(session, request.id, status.situation, at=status.updated_at,
                                            detail=status.reason, task_id=ctx.task_id)  # fmt: skip
        for request, error in rejected:
            locked = await session.get_one(PortalRequest, request.id, with_for_update=True)
            locked.export_status, locked.export_error = "failed", error
            await portal_requests.add_event(session, request.id, "export_failed", detail=error, task_id=ctx.task_id)
            record = {"kind": request.kind, "subject_id": request.subject_id}
            session.add(SyncFailure(tenant_id=ctx.tenant_id, task_id=ctx.task_id, external_id=str(request.id),
                                    error=error, record=record))  # fmt: skip
            ctx.count("failed")


async def _lock_requests(session: object, tenant_id: uuid.UUID, ids: list[str]) -> dict[uuid.UUID, PortalRequest]:
    parsed = [uuid.UUID(i) for i in ids]
    stmt = (
        select(PortalRequest)
        .where(PortalRequest.tenant_id == tenant_id, PortalRequest.id.in_(parsed))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {r.id: r for r in (await session.scalars(stmt)).all()}  # type: ignore[attr-defined]


async def run_export(ctx: TaskContext, sync: SyncDefinition, client: CoreSystemClient) -> TaskOutcome:
    await sync_state.clear_failures(ctx.runtime, ctx.task_id)
    await export_pending(ctx, client, sync.request_kinds)
    return outcome(ctx, ("exported", "already_exported", "failed"), {"sync": sync.key})


async def run_status(ctx: TaskContext, sync: SyncDefinition, client: CoreSystemClient) -> TaskOutcome:
    await sync_state.clear_failures(ctx.runtime, ctx.task_id)
    without_export = [k for k in sync.request_kinds if k not in portal_requests.EXPORTED_BY_SYNC]
    if without_export:  # see gateway.portal.requests: nothing else would catch these up
        await export_pending(ctx, client, without_export)
    watermark = await sync_state.read_watermark(ctx.runtime, ctx.tenant_id, sync.key)
    since = (watermark - OVERLAP) if watermark else EPOCH
    read = 0
    pages = client.iter_request_statuses(since, kinds=sync.request_kinds, limit=STATUS_PAGE)  # type: ignore[arg-type]
    async for page in prefetch(pages):
        async with ctx.runtime.db.unit_of_work() as session:
            by_id = await _lock_requests(session, ctx.tenant_id, [s.id for s in page if _is_uuid(s.id)])
            for status in page:
                request = by_id.get(uuid.UUID(status.id)) if _is_uuid(status.id) else None
                if request is None:
                    ctx.count("unknown")  # sent by another portal of the same operator
                    continue
                if portal_requests.apply_status(request, status):
                    ctx.count("updated")
                    await portal_requests.add_event(session, request.id, status.situation, at=status.updated_at,
                                                    detail=status.reason, task_id=ctx.task_id)  # fmt: skip
                else:
                    ctx.count("unchanged")
            await sync_state.advance_watermark(session, ctx.tenant_id, sync.key, max(s.updated_at for s in page))
        read += len(page)
        await ctx.progress(read)
    return outcome(ctx, ("updated", "unchanged", "unknown"), {"sync": sync.key, "read": read})


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def outcome(ctx: TaskContext, names: tuple[str, ...], result: dict[str, object]) -> TaskOutcome:
    for name in names:
        ctx.count(name, 0)
    status = TaskStatus.partially_succeeded if ctx.counters.get("failed") else TaskStatus.succeeded
    return TaskOutcome(status=status, result=result)
