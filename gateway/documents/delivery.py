"""Delivering one document: resolve the folder, get the bytes, upload under the naming rule.

The portal client's ``deliver_file`` decides replace vs ``Name (n).ext`` and is idempotent on
the content's sha256, so a task that runs twice (crash, redelivery) never makes a second copy.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Select, and_, select, update

from gateway.db.base import utcnow
from gateway.documents import templates
from gateway.documents.integration import forget_portal_session, portal_session, refusal
from gateway.documents.models import DeliveryStatus, DocumentDelivery, DocumentTemplate, PortalIntegration
from gateway.partners.client_portal import ClientPortalClient, acting_as
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.runtime import Runtime
from gateway.tasks.runner import RetryTask, TaskContext, TaskFailed, TaskOutcome, autocommit


class Delivery(msgspec.Struct, frozen=True):
    """The columns a delivery attempt reads, with its template's folder and the integration."""

    client_id: str
    employee: str | None
    template: str
    file_name: str
    content_type: str
    content_url: str | None
    content: bytes | None
    expected_sha256: str | None
    folder_path: list[str] | None
    base_url: str | None
    token_encrypted: bytes | None
    enabled: bool | None
    checked_at: datetime | None

    def integration(self, tenant_id: uuid.UUID) -> PortalIntegration | None:
        if self.base_url is None:
            return None
        return PortalIntegration(
            tenant_id=tenant_id,
            base_url=self.base_url,
            token_encrypted=self.token_encrypted,
            enabled=self.enabled,
            checked_at=self.checked_at,
        )


_D = DocumentDelivery
_DONE = (DeliveryStatus.delivered, DeliveryStatus.skipped)


def _claim_statement(delivery_id: uuid.UUID, tenant_id: uuid.UUID) -> Select[Any]:
    """Mark the delivery delivering and read what it needs, in one statement.

    Delivered and skipped rows are left alone (the statement returns nothing): a redelivered
    task must not upload twice. The template and integration are joined, not fetched apart.
    """
    claimed = (
        update(_D)
        .where(_D.id == delivery_id, _D.tenant_id == tenant_id, _D.status.not_in(_DONE))
        .values(status=DeliveryStatus.delivering, attempts=_D.attempts + 1, updated_at=utcnow())
        .returning(
            _D.client_id,
            _D.employee,
            _D.template,
            _D.file_name,
            _D.content_type,
            _D.content_url,
            _D.content,
            _D.expected_sha256,
        )
        .cte("claimed")
    )
    template = and_(DocumentTemplate.tenant_id == tenant_id, DocumentTemplate.name == claimed.c.template)
    return select(
        claimed,
        DocumentTemplate.folder_path,
        PortalIntegration.base_url,
        PortalIntegration.token_encrypted,
        PortalIntegration.enabled,
        PortalIntegration.checked_at,
    ).select_from(
        claimed.outerjoin(DocumentTemplate, template).outerjoin(
            PortalIntegration, PortalIntegration.tenant_id == tenant_id
        )
    )


async def _load(ctx: TaskContext, delivery_id: uuid.UUID) -> Delivery | None:
    """Load what the delivery needs and mark it delivering; None when there is nothing to do."""
    async with autocommit(ctx.runtime) as conn:
        row = (await conn.execute(_claim_statement(delivery_id, ctx.tenant_id))).first()
    return None if row is None else Delivery(*row)


async def _record(runtime: Runtime, delivery_id: uuid.UUID, **values: object) -> None:
    # Never overwrite a delivered row: a stale worker's late failure must not hide a success.
    async with autocommit(runtime) as conn:
        await conn.execute(
            update(_D)
            .where(_D.id == delivery_id, _D.status != DeliveryStatus.delivered)
            .values(updated_at=utcnow(), **values)
        )


async def _fail(runtime: Runtime, delivery_id: uuid.UUID, code: str, detail: str) -> TaskFailed:
    await _record(runtime, delivery_id, status=DeliveryStatus.failed, error_code=code, error=detail)
    return TaskFailed(detail, code=code)


async def _content(portal: ClientPortalClient, delivery: Delivery, max_size: int) -> bytes:
    if delivery.content is not None:
        if not delivery.content:
            raise PermanentPartnerError("inline content is not valid base64", code="content_unavailable")
        return delivery.content
    if delivery.content_url is None:
        raise PermanentPartnerError("the document carries no content", code="content_unavailable")
    return await portal.fetch_content(delivery.content_url, max_size=max_size)


async def deliver(ctx: TaskContext) -> TaskOutcome | None:
    delivery_id = uuid.UUID(ctx.params["delivery_id"])
    delivery = await _load(ctx, delivery_id)
    if delivery is None:
        return TaskOutcome(result={"note": "already delivered or skipped"})
    integration = delivery.integration(ctx.tenant_id)
    if integration is not None and not integration.enabled:
        raise await _fail(
            ctx.runtime, delivery_id, "integration_disabled", "The client-portal integration is not enabled."
        )
    if integration is None or integration.token_encrypted is None or integration.checked_at is None:
        async with ctx.runtime.db.sessionmaker() as session:
            unmapped = await templates.count_unmapped(session, ctx.tenant_id)
        raise await _fail(ctx.runtime, delivery_id, "portal_unchecked", str(refusal(integration, unmapped)))
    if delivery.folder_path is None:
        raise await _fail(
            ctx.runtime, delivery_id, "template_unmapped", f"Template {delivery.template!r} has no destination folder."
        )
    portal = portal_session(ctx.runtime, integration)
    try:
        content = await _content(portal, delivery, ctx.runtime.settings.document_max_bytes)
        sha = hashlib.sha256(content).hexdigest()
        if delivery.expected_sha256 and delivery.expected_sha256 != sha:
            raise PermanentPartnerError("the content does not match the sha256 sent with it", code="checksum_mismatch")
        with acting_as(delivery.employee):  # the portal applies this employee's folder permissions
            placed = await portal.deliver_file(
                delivery.client_id, delivery.folder_path, delivery.file_name, content, delivery.content_type
            )
    except TransientPartnerError as exc:
        status = DeliveryStatus.failed if ctx.last_attempt else DeliveryStatus.queued  # queued: a retry is scheduled
        await _record(ctx.runtime, delivery_id, status=status, error_code=exc.code, error=exc.detail)
        raise
    except PermanentPartnerError as exc:
        if exc.code == "folder_not_found":
            # A cached folder id went stale (the folder was removed in the portal): start afresh.
            forget_portal_session(ctx.runtime, integration)
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
        folder_path=delivery.folder_path,
        name_used=placed.name_used,
        portal_file_id=placed.file_id,
        replaced=placed.replaced,
        sha256=sha,
        size=len(content),
        delivered_at=utcnow(),
    )
    ctx.count("replaced" if placed.replaced else "already_delivered" if placed.already_delivered else "created")
    return TaskOutcome(result={"name_used": placed.name_used, "file_id": placed.file_id, "replaced": placed.replaced})
