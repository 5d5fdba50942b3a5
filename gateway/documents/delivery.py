"""Delivering one document: resolve the folder, get the bytes, upload under the naming rule.

The portal client's ``deliver_file`` decides replace vs ``Name (n).ext`` and is idempotent on
the content's sha256, so a task that runs twice (crash, redelivery) never makes a second copy.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from gateway.db.base import utcnow
from gateway.documents.integration import forget_portal_session, portal_session
from gateway.documents.models import DeliveryStatus, DocumentDelivery, DocumentTemplate, PortalIntegration
from gateway.partners.client_portal import ClientPortalClient
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.runtime import Runtime
from gateway.tasks.runner import RetryTask, TaskContext, TaskFailed, TaskOutcome


@dataclass
class Job:
    delivery: DocumentDelivery
    folder_path: list[str] | None
    integration: PortalIntegration | None


async def _load(ctx: TaskContext, delivery_id: uuid.UUID) -> Job | None:
    """Load what the delivery needs and mark it delivering; None when there is nothing to do."""
    async with ctx.runtime.db.unit_of_work() as session:
        delivery = await session.scalar(
            select(DocumentDelivery)
            .options(undefer(DocumentDelivery.content))
            .where(DocumentDelivery.id == delivery_id, DocumentDelivery.tenant_id == ctx.tenant_id)
        )
        if delivery is None or delivery.status in (DeliveryStatus.delivered, DeliveryStatus.skipped):
            return None
        folder_path = await session.scalar(
            select(DocumentTemplate.folder_path).where(
                DocumentTemplate.tenant_id == ctx.tenant_id, DocumentTemplate.name == delivery.template
            )
        )
        integration = await session.get(PortalIntegration, ctx.tenant_id)
        delivery.status = DeliveryStatus.delivering
        delivery.attempts += 1
        delivery.updated_at = utcnow()
        return Job(delivery, folder_path, integration)


async def _record(runtime: Runtime, delivery_id: uuid.UUID, **values: object) -> None:
    # Never overwrite a delivered row: a stale worker's late failure must not hide a success.
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(DocumentDelivery)
            .where(DocumentDelivery.id == delivery_id, DocumentDelivery.status != DeliveryStatus.delivered)
            .values(updated_at=utcnow(), **values)
        )


async def _fail(runtime: Runtime, delivery_id: uuid.UUID, code: str, detail: str) -> TaskFailed:
    await _record(runtime, delivery_id, status=DeliveryStatus.failed, error_code=code, error=detail)
    return TaskFailed(detail, code=code)


async def _content(portal: ClientPortalClient, delivery: DocumentDelivery) -> bytes:
    if delivery.content is not None:
        if not delivery.content:
            raise PermanentPartnerError("inline content is not valid base64", code="content_unavailable")
        return delivery.content
    if delivery.content_url is None:
        raise PermanentPartnerError("the document carries no content", code="content_unavailable")
    return await portal.fetch_content(delivery.content_url)


async def deliver(ctx: TaskContext) -> TaskOutcome | None:
    delivery_id = uuid.UUID(ctx.params["delivery_id"])
    job = await _load(ctx, delivery_id)
    if job is None:
        return TaskOutcome(result={"note": "already delivered or skipped"})
    delivery = job.delivery
    if job.integration is None or not job.integration.enabled or job.integration.token_encrypted is None:
        raise await _fail(
            ctx.runtime, delivery_id, "integration_disabled", "The client-portal integration is not enabled."
        )
    if job.folder_path is None:
        raise await _fail(
            ctx.runtime, delivery_id, "template_unmapped", f"Template {delivery.template!r} has no destination folder."
        )
    portal = portal_session(ctx.runtime, job.integration)
    try:
        content = await _content(portal, delivery)
        sha = hashlib.sha256(content).hexdigest()
        if delivery.expected_sha256 and delivery.expected_sha256 != sha:
            raise PermanentPartnerError("the content does not match the sha256 sent with it", code="checksum_mismatch")
        placed = await portal.deliver_file(
            delivery.client_id, job.folder_path, delivery.file_name, content, delivery.content_type
        )
    except TransientPartnerError as exc:
        status = DeliveryStatus.failed if ctx.last_attempt else DeliveryStatus.queued  # queued: a retry is scheduled
        await _record(ctx.runtime, delivery_id, status=status, error_code=exc.code, error=exc.detail)
        raise
    except PermanentPartnerError as exc:
        if exc.code == "folder_not_found":
            # A cached folder id went stale (the folder was removed in the portal): start afresh.
            forget_portal_session(ctx.runtime, job.integration)
            await _record(ctx.runtime, delivery_id, status=DeliveryStatus.queued, error_code=exc.code, error=exc.detail)
            raise RetryTask("portal folder changed", defer=0, code=exc.code) from exc
        raise await _fail(ctx.runtime, delivery_id, exc.code, exc.detail) from exc
    except Exception:
        # The runner retries a crash like a transient error; the row must say so, not "delivering".
        status = DeliveryStatus.failed if ctx.last_attempt else DeliveryStatus.queued
        await _record(ctx.runtime, delivery_id, status=status, error_code="internal", error="internal error")
        raise
    # The bytes leave Ponte here: the row keeps where they went, their checksum and size.
    await _record(
        ctx.runtime,
        delivery_id,
        status=DeliveryStatus.delivered,
        error_code=None,
        error=None,
        content=None,
        folder_path=job.folder_path,
        name_used=placed.name_used,
        portal_file_id=placed.file_id,
        replaced=placed.replaced,
        sha256=sha,
        size=len(content),
        delivered_at=utcnow(),
    )
    ctx.count("replaced" if placed.replaced else "already_delivered" if placed.already_delivered else "created")
    return TaskOutcome(result={"name_used": placed.name_used, "file_id": placed.file_id, "replaced": placed.replaced})
