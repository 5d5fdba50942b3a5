"""Turning a task-completed event into deliveries: one per document, one task delivering them."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

import msgspec
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.db.base import utcnow
from gateway.documents import templates
from gateway.documents.integration import get_integration, refusal
from gateway.documents.models import DeliveryStatus
from gateway.tasks import service as tasks_service
from gateway.webhooks.events import TaskCompleted, TaskDocument

DELIVER = "documents.deliver"
DELIVERY_MAX_ATTEMPTS = 10
ACCOUNTING_ORIGIN = "accounting_integration"
_IDS = uuid.UUID("5c0f3f0e-9d3a-4a53-9c7e-0d0c0ce1d003")


def delivery_id(event_id: uuid.UUID, document_id: str) -> uuid.UUID:
    # Deterministic, so a second run of the same event addresses the same rows.
    return uuid.uuid5(_IDS, f"{event_id}:{document_id}")


def _first_verdict(
    doc: TaskDocument, enabled: bool, refused: str | None, mapped: bool
) -> tuple[str, str | None, str | None]:
    """Status, error code and reason a delivery starts with."""
    if doc.origin == ACCOUNTING_ORIGIN:
        return (
            DeliveryStatus.skipped,
            ACCOUNTING_ORIGIN,
            "Already published to the portal by the accounting system's integration.",
        )
    if not enabled:
        return DeliveryStatus.skipped, "integration_disabled", "The client-portal integration is not enabled."
    if refused is not None:
        return DeliveryStatus.failed, "portal_unchecked", refused
    if not mapped:
        return DeliveryStatus.failed, "template_unmapped", f"Template {doc.template!r} has no destination folder."
    return DeliveryStatus.queued, None, None


def _inline_content(doc: TaskDocument) -> bytes | None:
    if doc.content_base64 is None:
        return None
    try:
        return base64.b64decode(doc.content_base64, validate=True)
    except (binascii.Error, ValueError):
        return b""  # undecodable: the delivery fails content_unavailable, the bytes never reach a log


class DeliverySetup(msgspec.Struct, frozen=True):
    """What a tenant's events read alike: whether deliveries go out, and its templates' folders."""

    enabled: bool
    refused: str | None
    folders: dict[str, list[str] | None]


async def read_setup(session: AsyncSession, tenant_id: uuid.UUID) -> DeliverySetup:
    integration = await get_integration(session, tenant_id)
    refused = refusal(integration, 0)
    if refused is not None:  # the count is worth a query only when it is shown
        refused = refusal(integration, await templates.count_unmapped(session, tenant_id))
    enabled = integration is None or integration.enabled  # on by default for new firms
    return DeliverySetup(enabled, refused, await templates.folders_of(session, tenant_id))


class RecordedEvent(msgspec.Struct, frozen=True):
    created: int  # deliveries that are new
    task: tuple[uuid.UUID, int, None] | None  # the delivery task made now, to enqueue (id, dispatch, when)


async def record_completed_task(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    event_id: uuid.UUID,
    data: TaskCompleted,
    setup: DeliverySetup | None = None,
) -> RecordedEvent:
    """Create the deliveries of one completed task and the task that delivers them.

    Idempotent per event: a second run (crash, replay) finds the same rows and the same task.
    One ``documents.deliver`` task delivers the event's documents together; skipped ones are
    not in it (there is nothing to do for them). The task and the rows are one statement, so on
    an autocommit connection they are written together; the caller enqueues the task it
    returns once they are committed. ``setup`` is the tenant's, read by the caller for a batch
    of events (``read_setup``); without it, it is read here. Template names it does not know
    are looked up, and registered if new, first.
    """
    if not data.documents:
        return RecordedEvent(0, None)
    if setup is None:
        setup = await read_setup(AsyncSession(bind=conn), tenant_id)
    enabled, refused, folders = setup.enabled, setup.refused, setup.folders
    unknown = {d.template for d in data.documents} - folders.keys()
    if unknown:
        session = AsyncSession(bind=conn)
        folders = folders | await templates.folders_by_name(session, tenant_id, unknown, data.department)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for doc in data.documents:
        if doc.id in seen:
            continue
        seen.add(doc.id)
        status, code, reason = _first_verdict(doc, enabled, refused, folders[doc.template] is not None)
        content = _inline_content(doc) if status != DeliveryStatus.skipped else None
        rows.append(
            {
                "id": delivery_id(event_id, doc.id),
                "tenant_id": tenant_id,
                "event_id": event_id,
                "document_id": doc.id,
                "source_task_id": data.task_id,
                "client_id": data.client_id,
                "employee": data.employee,
                "completed_at": data.completed_at,
                "template": doc.template,
                "origin": doc.origin,
                "file_name": doc.file_name,
                "content_type": doc.content_type,
                "content_url": doc.content_url if status != DeliveryStatus.skipped else None,
                "content": content,
                "expected_sha256": doc.sha256,
                "status": status,
                "error_code": code,
                "error": reason,
                "in_task": status != DeliveryStatus.skipped,
                "created_at": utcnow(),  # per row, as listings order by it
            }
        )
    params = {column: [row[column] for row in rows] for column in _COLUMNS}
    in_task = any(params["in_task"])
    if in_task:
        # Deduplicated on the event: a second run finds the same task (and its rows exist).
        params |= tasks_service.deduplicated_task_params(
            tenant_id=tenant_id,
            kind=DELIVER,
            params={"event_id": str(event_id)},
            subject_id=str(event_id),
            trigger="webhook",
            dedup_key=str(event_id),
            max_attempts=DELIVERY_MAX_ATTEMPTS,
        )
    written = (await conn.execute(_INSERT_WITH_TASK if in_task else _INSERT, params)).one()
    task = (written.task_id, written.dispatches, None) if written.task_id is not None else None
    return RecordedEvent(written.created, task)


_COLUMNS: dict[str, str] = {
    "id": "uuid",
    "tenant_id": "uuid",
    "event_id": "uuid",
    "document_id": "text",
    "source_task_id": "text",
    "client_id": "text",
    "employee": "text",
    "completed_at": "timestamptz",
    "template": "text",
    "origin": "text",
    "file_name": "text",
    "content_type": "text",
    "content_url": "text",
    "content": "bytea",
    "expected_sha256": "text",
    "status": "text",
    "error_code": "text",
    "error": "text",
    "in_task": "boolean",  # delivered by the event's task (not skipped)
    "created_at": "timestamptz",
}


def _insert(with_task: bool) -> TextClause:
    """One statement for the event, over arrays of columns: one prepared statement whatever the
    number of documents (an executemany of mapped rows spent more on binding each value than
    PostgreSQL spent storing them). Rows of a second run already exist and are left as they are.
    ``with_task``: the deliveries' task is inserted in the same statement
    (``tasks_service.DEDUPLICATED_TASK_INSERT``), or found if the event already has it."""
    columns = [c for c in _COLUMNS if c != "in_task"]
    task_id = "NULL"
    before = ""
    if with_task:
        before = f"task AS ({tasks_service.DEDUPLICATED_TASK_INSERT}), "
        task_id = f"CASE WHEN d.in_task THEN coalesce((SELECT id FROM task), ({tasks_service.EXISTING_TASK})) END"
    return text(
        f"""
        WITH {before}new AS (
            INSERT INTO document_deliveries ({", ".join(columns)}, task_id, attempts, updated_at)
            SELECT {", ".join(f"d.{c}" for c in columns)}, {task_id}, 0, d.created_at FROM unnest(
                {", ".join(f"CAST(:{c} AS {t}[])" for c, t in _COLUMNS.items())}
            ) AS d({", ".join(_COLUMNS)})
            ON CONFLICT (tenant_id, event_id, document_id) DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM new) AS created, {"(SELECT id FROM task)" if with_task else "NULL"} AS task_id,
            {"(SELECT dispatches FROM task)" if with_task else "NULL"} AS dispatches
        """
    )


_INSERT = _insert(with_task=False)
_INSERT_WITH_TASK = _insert(with_task=True)
