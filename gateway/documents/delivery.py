"""Delivering documents: one task delivers an event's documents (or a retry's) concurrently.

Each document keeps its own delivery row, status and error code. A task claims its rows in one
statement (only rows still pointing at it: a person's retry moves a row to a new task), uploads
them concurrently under the naming rule, and records every outcome in one statement. The tasks
of a processing run's events run together (``deliver_tasks``): one claim and one record for all
of them, each task still with its own outcome. The portal client's ``deliver_file`` decides
replace vs ``Name (n).ext`` and is idempotent on the content's sha256, so a batch that runs
twice (crash, redelivery) never makes a second copy. Transient failures stay ``queued`` and
each task retries only its own, with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import datetime
from typing import Any

import msgspec
import structlog
from sqlalchemy import ARRAY, Select, Uuid, and_, any_, bindparam, func, or_, select, update

from gateway.documents import templates
from gateway.documents.integration import forget_portal_session, portal_session, refusal
from gateway.documents.models import DeliveryStatus, DocumentDelivery, DocumentTemplate, PortalIntegration
from gateway.events import emitters, outbox
from gateway.partners.client_portal import ClientPortalClient, DeliveredFile, acting_as
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.runtime import Runtime
from gateway.tasks.models import TaskStatus
from gateway.tasks.runner import RetryTask, TaskContext, TaskOutcome

log = structlog.get_logger("ponte.documents")

# Uploads in flight per task; a worker runs several tasks, so this times its job slots bounds
# what one process asks of the portal at once.
CONCURRENCY = 10


class Delivery(msgspec.Struct, frozen=True):
    """The columns a delivery attempt reads, with its template's folder and the integration."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    task_id: uuid.UUID
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

    def integration(self) -> PortalIntegration | None:
        if self.base_url is None:
            return None
        return PortalIntegration(
            tenant_id=self.tenant_id,
            base_url=self.base_url,
            token_encrypted=self.token_encrypted,
            enabled=self.enabled,
            checked_at=self.checked_at,
        )


class Outcome(msgspec.Struct, frozen=True):
    """What one document's attempt came to; ``retry`` means it waits for the task's next try."""

    delivery_id: uuid.UUID
    status: DeliveryStatus
    error_code: str | None = None
    error: str | None = None
    placed: DeliveredFile | None = None
    folder_path: list[str] | None = None
    size: int | None = None
    retry: bool = False
    retry_now: bool = False  # a stale folder id: nothing to wait for


_D = DocumentDelivery


def _scope(ctx: TaskContext) -> Any:
    """The task's rows: its event's documents, or the ids of a retry (older tasks: one id)."""
    if "event_id" in ctx.params:
        return and_(_D.tenant_id == ctx.tenant_id, _D.event_id == uuid.UUID(ctx.params["event_id"]))
    ids = ctx.params.get("delivery_ids") or [ctx.params["delivery_id"]]
    return and_(_D.tenant_id == ctx.tenant_id, _D.id.in_([uuid.UUID(i) for i in ids]))


def _claim_statement(scope: Any) -> Select[Any]:
    """Mark the tasks' pending rows delivering and read what they need, in one statement.

    Pending: queued, delivering (a crashed attempt), or failed at intake and never tried (an
    unmapped template, mapped since perhaps). Delivered, skipped and rows failed by an attempt
    are left alone, and so are rows a retry handed to another task. Takes ``claim_tenant``
    and ``claim_tasks`` (an UPDATE's bound names must differ from its columns'), and what
    ``scope`` binds.
    """
    pending = or_(
        _D.status.in_((DeliveryStatus.queued, DeliveryStatus.delivering)),
        and_(_D.status == DeliveryStatus.failed, _D.attempts == 0),
    )
    claimed = (
        update(_D)
        .where(
            scope,
            _D.tenant_id == bindparam("claim_tenant"),
            _D.task_id == any_(bindparam("claim_tasks", type_=ARRAY(Uuid))),
            pending,
        )
        .values(status=DeliveryStatus.delivering, attempts=_D.attempts + 1, updated_at=func.now())
        .returning(
            _D.id,
            _D.tenant_id,
            _D.task_id,
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
    template = and_(DocumentTemplate.tenant_id == claimed.c.tenant_id, DocumentTemplate.name == claimed.c.template)
    return select(
        claimed,
        DocumentTemplate.folder_path,
        PortalIntegration.base_url,
        PortalIntegration.token_encrypted,
        PortalIntegration.enabled,
        PortalIntegration.checked_at,
    ).select_from(
        claimed.outerjoin(DocumentTemplate, template).outerjoin(
            PortalIntegration, PortalIntegration.tenant_id == claimed.c.tenant_id
        )
    )


# Built once (building and hashing this statement cost more than running it): the documents of
# events (each event's task), or the ids of a retry.
_CLAIM_EVENTS = _claim_statement(_D.event_id == any_(bindparam("claim_events", type_=ARRAY(Uuid))))
_CLAIM_IDS = _claim_statement(_D.id == any_(bindparam("claim_ids", type_=ARRAY(Uuid))))


async def _claim(runtime: Runtime, ctxs: list[TaskContext]) -> list[Delivery]:
    """The pending rows of the tasks ``ctxs`` (one tenant's): one statement for their events."""
    params: dict[str, Any] = {"claim_tenant": ctxs[0].tenant_id, "claim_tasks": [c.task_id for c in ctxs]}
    if all("event_id" in c.params for c in ctxs):
        stmt, params["claim_events"] = _CLAIM_EVENTS, [uuid.UUID(c.params["event_id"]) for c in ctxs]
    else:  # a retry's task (older ones: one id)
        [ctx] = ctxs
        ids = ctx.params.get("delivery_ids") or [ctx.params["delivery_id"]]
        stmt, params["claim_ids"] = _CLAIM_IDS, [uuid.UUID(i) for i in ids]
    async with runtime.db.autocommit() as conn:
        rows = (await conn.execute(stmt, params)).all()
    return [Delivery(*row) for row in rows]


# One statement records the batch and writes its outbound events (atomic on its own, so no
# BEGIN/COMMIT round trips). Never overwrite a delivered row (a stale worker's late failure
# must not hide a success), nor a row a retry gave to another task; only the rows it did write
# get their event. A delivered row drops its bytes (they left Ponte: the row keeps where they
# went, their checksum and size). Arrays of columns, not a multi-row VALUES: one statement text
# whatever the batch size.
_RECORD = outbox.emit_many_after(
    """
    UPDATE document_deliveries AS d SET
        status = o.status, error_code = o.error_code, error = o.error, updated_at = now(),
        attempts = d.attempts + CASE WHEN o.first THEN 1 ELSE 0 END,
        content = CASE WHEN o.delivered THEN NULL ELSE d.content END,
        folder_path = CASE WHEN o.delivered
            THEN ARRAY(SELECT jsonb_array_elements_text(o.folder_path)) ELSE d.folder_path END,
        name_used = CASE WHEN o.delivered THEN o.name_used ELSE d.name_used END,
        portal_file_id = CASE WHEN o.delivered THEN o.file_id ELSE d.portal_file_id END,
        replaced = CASE WHEN o.delivered THEN o.replaced ELSE d.replaced END,
        sha256 = CASE WHEN o.delivered THEN o.sha256 ELSE d.sha256 END,
        size = CASE WHEN o.delivered THEN o.size ELSE d.size END,
        delivered_at = CASE WHEN o.delivered THEN now() ELSE d.delivered_at END
    FROM (
        SELECT u.*, u.status = 'delivered' AS delivered FROM unnest(
            CAST(:delivery_ids AS uuid[]), CAST(:statuses AS text[]), CAST(:codes AS text[]),
            CAST(:errors AS text[]), CAST(:folders AS jsonb[]), CAST(:names AS text[]),
            CAST(:file_ids AS text[]), CAST(:replaced AS boolean[]), CAST(:sha256s AS text[]),
            CAST(:sizes AS integer[]), CAST(:task_ids AS uuid[]), CAST(:first AS boolean[])
        ) AS u(id, status, error_code, error, folder_path, name_used, file_id, replaced, sha256, size, task_id, first)
    ) AS o
    WHERE d.id = o.id AND d.task_id = o.task_id AND d.status <> 'delivered'
    RETURNING d.id
    """
)


class _Written(msgspec.Struct, frozen=True):
    """A delivery row as the record statement writes it, for its outbound event."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    client_id: str
    template: str
    file_name: str
    name_used: str | None
    folder_path: list[str] | None
    size: int | None
    status: str
    error_code: str | None
    error: str | None


async def _record(
    runtime: Runtime,
    batch: list[Delivery],
    outcomes: list[Outcome],
    *,
    first: set[uuid.UUID] | frozenset[uuid.UUID] = frozenset(),
) -> None:
    """Every outcome of the batch (its tasks'), with their outbound events, in one statement.

    ``first``: rows handed over unclaimed (``TaskContext.given``), whose attempt counts here."""
    placed = [o.placed for o in outcomes]
    params: dict[str, Any] = {
        "task_ids": [d.task_id for d in batch],
        "first": [d.id in first for d in batch],
        "delivery_ids": [o.delivery_id for o in outcomes],
        "statuses": [str(o.status) for o in outcomes],
        "codes": [o.error_code for o in outcomes],
        "errors": [o.error for o in outcomes],
        "folders": [msgspec.json.encode(o.folder_path).decode() if o.placed else None for o in outcomes],
        "names": [p.name_used if p else None for p in placed],
        "file_ids": [p.file_id if p else None for p in placed],
        "replaced": [p.replaced if p else None for p in placed],
        "sha256s": [p.sha256 if p else None for p in placed],
        "sizes": [o.size for o in outcomes],
    }
    written = [
        _Written(
            o.delivery_id,
            d.tenant_id,
            d.client_id,
            d.template,
            d.file_name,
            o.placed.name_used if o.placed else None,
            o.folder_path if o.placed else None,
            o.size,
            str(o.status),
            o.error_code,
            o.error,
        )
        for d, o in zip(batch, outcomes, strict=True)
    ]
    events, subjects = emitters.document_deliveries(written)
    async with runtime.db.autocommit() as conn:
        await conn.execute(_RECORD, params | outbox.emit_many_params(events) | {"subjects": subjects})


async def _content(portal: ClientPortalClient, delivery: Delivery, max_size: int) -> bytes:
    if delivery.content is not None:
        if not delivery.content:
            raise PermanentPartnerError("inline content is not valid base64", code="content_unavailable")
        return delivery.content
    if delivery.content_url is None:
        raise PermanentPartnerError("the document carries no content", code="content_unavailable")
    return await portal.fetch_content(delivery.content_url, max_size=max_size)


def _failed(delivery: Delivery, code: str, detail: str) -> Outcome:
    return Outcome(delivery.id, DeliveryStatus.failed, code, detail)


async def _deliver_one(ctx: TaskContext, portal: ClientPortalClient, delivery: Delivery) -> Outcome:
    if delivery.folder_path is None:
        return _failed(delivery, "template_unmapped", f"Template {delivery.template!r} has no destination folder.")
    # On the last try a transient failure is final; before it, the row waits queued for the retry.
    waiting = DeliveryStatus.failed if ctx.last_attempt else DeliveryStatus.queued
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
        return Outcome(delivery.id, waiting, exc.code, exc.detail, retry=not ctx.last_attempt)
    except PermanentPartnerError as exc:
        if exc.code == "folder_not_found" and not ctx.last_attempt:
            # A cached folder id went stale (the folder was removed in the portal): start afresh.
            return Outcome(delivery.id, DeliveryStatus.queued, exc.code, exc.detail, retry=True, retry_now=True)
        return _failed(delivery, exc.code, exc.detail)
    except Exception:
        # Recorded like a transient error, so the row says so rather than "delivering".
        log.exception("delivery_crashed", delivery_id=str(delivery.id))
        return Outcome(delivery.id, waiting, "internal", "internal error", retry=not ctx.last_attempt)
    return Outcome(
        delivery.id, DeliveryStatus.delivered, placed=placed, folder_path=delivery.folder_path, size=len(content)
    )


async def deliver(ctx: TaskContext) -> TaskOutcome | None:
    """One task on its own: a retry's, or one the queue dispatched."""
    [result] = await deliver_tasks([ctx])
    if isinstance(result, BaseException):
        raise result
    return result


async def deliver_tasks(ctxs: list[TaskContext]) -> list[TaskOutcome | BaseException]:
    """Deliver the tasks' pending documents concurrently and record every outcome together.

    An event batch's tasks (``TaskContext.run_next``) are claimed in one statement per tenant
    and recorded in one; each task still gets its own outcome and retries only its transient
    failures.
    """
    runtime = ctxs[0].runtime
    groups: dict[uuid.UUID, list[TaskContext]] = {}
    alone: list[list[TaskContext]] = []
    handed: dict[uuid.UUID, list[Delivery]] = {}  # by tenant: rows the run that made them handed over
    for ctx in ctxs:
        if ctx.given is not None:
            handed.setdefault(ctx.tenant_id, []).extend(ctx.given)
        elif "event_id" in ctx.params:
            groups.setdefault(ctx.tenant_id, []).append(ctx)
        else:
            alone.append([ctx])
    claimed = [*handed.values()]
    claimed += await asyncio.gather(*(_claim(runtime, group) for group in [*groups.values(), *alone]))
    by_task = {ctx.task_id: ctx for ctx in ctxs}
    batch = [d for rows in claimed for d in rows]
    outcomes = [o for group in await asyncio.gather(*(_attempt(by_task, rows) for rows in claimed)) for o in group]
    if batch:
        await _record(runtime, batch, outcomes, first={d.id for rows in handed.values() for d in rows})
    mine: dict[uuid.UUID, list[Outcome]] = {ctx.task_id: [] for ctx in ctxs}
    for d, o in zip(batch, outcomes, strict=True):
        mine[d.task_id].append(o)
    results: list[TaskOutcome | BaseException] = []
    for ctx in ctxs:
        done = mine[ctx.task_id]
        try:
            # Nothing claimed: a re-run after the outcomes were recorded reports what they were.
            earlier = await _earlier(ctx, done) if ctx.attempt > 1 or not done else _Tally()
            results.append(_task_outcome(ctx, done, earlier))
        except RetryTask as exc:
            results.append(exc)
    return results


async def _attempt(by_task: dict[uuid.UUID, TaskContext], rows: list[Delivery]) -> list[Outcome]:
    """One tenant's claimed rows, uploaded concurrently (``CONCURRENCY`` per task)."""
    if not rows:
        return []
    integration = rows[0].integration()
    if integration is not None and not integration.enabled:
        detail = "The client-portal integration is not enabled."
        return [_failed(d, "integration_disabled", detail) for d in rows]
    runtime = by_task[rows[0].task_id].runtime
    if integration is None or integration.token_encrypted is None or integration.checked_at is None:
        async with runtime.db.sessionmaker() as session:
            unmapped = await templates.count_unmapped(session, rows[0].tenant_id)
        detail = str(refusal(integration, unmapped))
        return [_failed(d, "portal_unchecked", detail) for d in rows]
    portal = portal_session(runtime, integration)
    limits = {task_id: asyncio.Semaphore(CONCURRENCY) for task_id in {d.task_id for d in rows}}

    async def one(delivery: Delivery) -> Outcome:
        async with limits[delivery.task_id]:
            return await _deliver_one(by_task[delivery.task_id], portal, delivery)

    outcomes = list(await asyncio.gather(*(one(d) for d in rows)))
    if any(o.retry_now for o in outcomes):
        forget_portal_session(runtime, integration)
    return outcomes


class _Tally(msgspec.Struct):
    delivered: int = 0
    failed: list[tuple[str | None, str | None]] = msgspec.field(default_factory=list)


async def _earlier(ctx: TaskContext, outcomes: list[Outcome]) -> _Tally:
    """What earlier attempts of the task settled: the rows this attempt did not claim."""
    stmt = select(_D.status, _D.error_code, _D.error).where(
        _scope(ctx),
        _D.task_id == ctx.task_id,
        _D.status.in_((DeliveryStatus.delivered, DeliveryStatus.failed)),
        _D.id.not_in([o.delivery_id for o in outcomes]),
    )
    tally = _Tally()
    async with ctx.runtime.db.autocommit() as conn:
        for status, code, error in await conn.execute(stmt):
            if status == DeliveryStatus.delivered:
                tally.delivered += 1
            else:
                tally.failed.append((code, error))
    return tally


def _task_outcome(ctx: TaskContext, outcomes: list[Outcome], earlier: _Tally) -> TaskOutcome:
    for o in outcomes:
        if o.placed is not None:
            placed = o.placed
            ctx.count("replaced" if placed.replaced else "already_delivered" if placed.already_delivered else "created")
        elif o.status == DeliveryStatus.failed:
            ctx.count("failed")
    waiting = [o for o in outcomes if o.retry]
    if waiting:
        first = waiting[0]
        defer = 0.0 if all(o.retry_now for o in waiting) else None
        detail = f"{len(waiting)} of {len(outcomes)} deliveries wait: {first.error}"
        raise RetryTask(detail, defer=defer, code=first.error_code or "retry")
    failed = [(o.error_code, o.error) for o in outcomes if o.status == DeliveryStatus.failed] + earlier.failed
    delivered = sum(o.placed is not None for o in outcomes) + earlier.delivered
    result: dict[str, Any] = {"delivered": delivered, "failed": len(failed)}
    if len(outcomes) == 1 and outcomes[0].placed is not None:
        placed = outcomes[0].placed
        result |= {"name_used": placed.name_used, "file_id": placed.file_id, "replaced": placed.replaced}
    if not failed:
        return TaskOutcome(result=result)
    status = TaskStatus.partially_succeeded if delivered else TaskStatus.failed
    return TaskOutcome(status=status, result=result, error_code=failed[0][0], error=failed[0][1])
