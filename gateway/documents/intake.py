"""Turning a task-completed event into deliveries: one per document, one task delivering them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
import pybase64
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.db.base import utcnow
from gateway.documents import templates
from gateway.documents.delivery import Delivery
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
        # Strict: standard alphabet, padding at the end only, no whitespace. pybase64 (SIMD)
        # takes 1 us a 2 KB document; CPython's decoder, strict or not, 7.5.
        return pybase64.b64decode(doc.content_base64, validate=True)
    except ValueError:  # binascii.Error included
        return b""  # undecodable: the delivery fails content_unavailable, the bytes never reach a log


class DeliverySetup(msgspec.Struct, frozen=True):
    """What a tenant's events read alike: whether deliveries go out, its templates' folders, and
    its portal integration's row (``integration``: base URL, token, enabled, checked; None if none)."""

    enabled: bool
    refused: str | None
    folders: dict[str, list[str] | None]
    integration: tuple[str, bytes | None, bool, datetime | None] | None = None


async def read_setup(session: AsyncSession, tenant_id: uuid.UUID) -> DeliverySetup:
    integration = await get_integration(session, tenant_id)
    refused = refusal(integration, 0)
    if refused is not None:  # the count is worth a query only when it is shown
        refused = refusal(integration, await templates.count_unmapped(session, tenant_id))
    enabled = integration is None or integration.enabled  # on by default for new firms
    row = None
    if integration is not None:
        row = (integration.base_url, integration.token_encrypted, integration.enabled, integration.checked_at)
    return DeliverySetup(enabled, refused, await templates.folders_of(session, tenant_id), row)


class RecordedEvent(msgspec.Struct, frozen=True):
    created: int  # deliveries that are new
    task: tuple[uuid.UUID, int, None] | None  # the delivery task made now, to enqueue (id, dispatch, when)
    # That task's deliveries as its first attempt reads them, written now: whoever runs the
    # attempt in this process needs not read them back (``TaskContext.run_next(given=...)``).
    given: list[Delivery] | None = None


async def record_completed_tasks(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    events: list[tuple[uuid.UUID, TaskCompleted]],
    setup: DeliverySetup | None = None,
) -> list[RecordedEvent]:
    """Create the deliveries of completed tasks (one tenant's events) and the tasks that deliver them.

    Idempotent per event: a second run (crash, replay) finds the same rows and the same task.
    One ``documents.deliver`` task per event delivers its documents together; skipped ones are
    not in it (there is nothing to do for them). The tasks and the rows of every event are one
    statement, so on an autocommit connection they are written together; the caller enqueues
    (or runs) the tasks it returns once they are committed. ``setup`` is the tenant's, read by
    the caller for a batch of events (``read_setup``); without it, it is read here. Template
    names it does not know are looked up, and registered if new, first.
    """
    if not any(data.documents for _, data in events):
        return [RecordedEvent(0, None) for _ in events]
    if setup is None:
        setup = await read_setup(AsyncSession(bind=conn), tenant_id)
    enabled, refused, folders = setup.enabled, setup.refused, setup.folders
    unknown: dict[str | None, set[str]] = {}  # a new name is registered with the department of its first event
    for _, data in events:
        names = {d.template for d in data.documents} - folders.keys() - {n for ns in unknown.values() for n in ns}
        if names:
            unknown.setdefault(data.department, set()).update(names)
    for department, names in unknown.items():
        session = AsyncSession(bind=conn)
        folders = folders | await templates.folders_by_name(session, tenant_id, names, department)
    rows: list[dict[str, Any]] = []
    tasks: list[tasks_service.DeduplicatedTask] = []
    for event_id, data in events:
        seen: set[str] = set()
        in_task = False
        for doc in data.documents:
            if doc.id in seen:
                continue
            seen.add(doc.id)
            status, code, reason = _first_verdict(doc, enabled, refused, folders[doc.template] is not None)
            content = _inline_content(doc) if status != DeliveryStatus.skipped else None
            in_task = in_task or status != DeliveryStatus.skipped
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
        if in_task:  # deduplicated on the event: a second run finds the same task (and its rows exist)
            key = str(event_id)
            tasks.append(tasks_service.DeduplicatedTask({"event_id": key}, key, key))
    params: dict[str, Any] = {column: [row[column] for row in rows] for column in _COLUMNS}
    params |= tasks_service.deduplicated_tasks_params(
        tenant_id=tenant_id, kind=DELIVER, trigger="webhook", tasks=tasks, max_attempts=DELIVERY_MAX_ATTEMPTS
    )
    written = {row.event_id: row for row in await conn.execute(_INSERT, params)}
    recorded = []
    for event_id, _ in events:
        row = written.get(event_id)
        if row is None or row.task_id is None:
            recorded.append(RecordedEvent(row.created if row is not None else 0, None))
            continue
        inserted = set(row.ids or ())
        given = [
            _delivery(r, row.task_id, folders, setup)
            for r in rows
            if r["event_id"] == event_id and r["in_task"] and r["id"] in inserted
        ]
        recorded.append(RecordedEvent(row.created, (row.task_id, row.dispatches, None), given))
    return recorded


def _delivery(
    row: dict[str, Any], task_id: uuid.UUID, folders: dict[str, list[str] | None], setup: DeliverySetup
) -> Delivery:
    """A row just written, as ``delivery._claim`` would read it."""
    base_url, token, enabled, checked_at = setup.integration or (None, None, None, None)
    return Delivery(
        row["id"], row["tenant_id"], task_id, row["client_id"], row["employee"], row["template"],
        row["file_name"], row["content_type"], row["content_url"], row["content"], row["expected_sha256"],
        folders.get(row["template"]), base_url, token, enabled, checked_at,
    )  # fmt: skip


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


def _insert() -> TextClause:
    """One statement for the events, over arrays of columns: one prepared statement whatever the
    number of events and documents (an executemany of mapped rows spent more on binding each
    value than PostgreSQL spent storing them). Rows of a second run already exist and are left
    as they are. The events' delivery tasks are inserted in the same statement (deduplicated on
    the event, ``tasks_service.DEDUPLICATED_TASKS_INSERT``), or found if an event already has
    one (``EXISTING_TASKS``). Returns, per
    event with documents, how many deliveries are new and its task if the statement made it."""
    columns = [c for c in _COLUMNS if c != "in_task"]
    return text(
        f"""
        WITH task AS ({tasks_service.DEDUPLICATED_TASKS_INSERT}
        ), known AS MATERIALIZED (  -- read once, not once per row
            SELECT id, dedup_key FROM task UNION ALL {tasks_service.EXISTING_TASKS}
        ), new AS (
            INSERT INTO document_deliveries ({", ".join(columns)}, task_id, attempts, updated_at)
            SELECT {", ".join(f"d.{c}" for c in columns)},
                CASE WHEN d.in_task THEN k.id END, 0, d.created_at
            FROM unnest({", ".join(f"CAST(:{c} AS {t}[])" for c, t in _COLUMNS.items())}) AS d({", ".join(_COLUMNS)})
            LEFT JOIN known k ON k.dedup_key = d.event_id::text
            ON CONFLICT (tenant_id, event_id, document_id) DO NOTHING
            RETURNING event_id, id
        ), created AS (
            SELECT event_id, count(*) AS created, array_agg(id) AS ids FROM new GROUP BY event_id
        )
        SELECT e.event_id, coalesce(c.created, 0) AS created, c.ids, t.id AS task_id, t.dispatches
        FROM (SELECT DISTINCT event_id FROM unnest(CAST(:event_id AS uuid[])) AS u(event_id)) AS e
        LEFT JOIN created c ON c.event_id = e.event_id
        LEFT JOIN task t ON t.dedup_key = e.event_id::text
        """
    )


_INSERT = _insert()
