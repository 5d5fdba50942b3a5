"""Preview before import (seed 002, Agent21's "Odczytaj listę polis").

A preview is an ``import.preview`` task of the connection: it reads the insurer's list for a
period without importing it, and keeps one row per policy with two flags, "already in Ponte"
and "changed since the last import". Every policy not in Ponte yet is preselected; those
already in Ponte are excluded by default (the user may still choose them). The import of the
chosen numbers is an ordinary ``import.run`` task (``mode="selection"``) that applies the
records the preview read through the one upsert path.

Like an import's results, a retried preview rebuilds its rows from scratch.
"""

from __future__ import annotations

import uuid
from contextlib import aclosing
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import Conflict, FieldError, NotFound, Unprocessable
from gateway.imports import periods
from gateway.imports.models import ImportPreviewItem
from gateway.imports.records import RecordError, policy_rows
from gateway.pagination import PageParams, paginate
from gateway.tasks.models import Task, TaskStatus
from gateway.tasks.runner import TaskContext, TaskOutcome

PREVIEW_KIND = "import.preview"

_STORED = text(
    "SELECT t.insurer, t.policy_number, t.content_hash FROM policies t "
    "JOIN unnest(CAST(:insurers AS text[]), CAST(:numbers AS text[])) AS n(insurer, number) "
    "ON t.insurer = n.insurer AND t.policy_number = n.number WHERE t.tenant_id = :tenant_id"
)


def _row(raw: dict[str, Any], tenant_id: uuid.UUID, source: str) -> dict[str, Any]:
    try:
        policy = policy_rows(raw, tenant_id=tenant_id, insurer=source).policy
    except RecordError as exc:
        number = raw.get("policy_number") if isinstance(raw.get("policy_number"), str) else None
        return {"policy_number": number, "insurer": None, "error": str(exc), "raw": raw, "hash": None}
    return {
        "policy_number": policy["policy_number"], "insurer": policy["insurer"], "error": None, "raw": raw,
        "hash": policy["content_hash"], "holder_name": policy["holder_name"], "product": policy["product"],
        "status": policy["status"], "updated_on": policy["updated_on"],
    }  # fmt: skip


async def flag_page(
    session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID, source: str, page: list[dict[str, Any]]
) -> int:
    """Store one page of the insurer's list with its flags; returns how many rows it added."""
    rows = [_row(raw, tenant_id, source) for raw in page]
    valid = [r for r in rows if r["error"] is None]
    params = {
        "tenant_id": tenant_id,
        "insurers": [r["insurer"] for r in valid],
        "numbers": [r["policy_number"] for r in valid],
    }
    stored = {(i, n): h for i, n, h in (await session.execute(_STORED, params)).all()} if valid else {}
    items = []
    for r in rows:
        known = (r["insurer"], r["policy_number"]) in stored
        changed = known and stored[r["insurer"], r["policy_number"]] != r["hash"]
        items.append(
            ImportPreviewItem(
                task_id=task_id, tenant_id=tenant_id, policy_number=r["policy_number"], insurer=r["insurer"],
                holder_name=r.get("holder_name"), product=r.get("product"), status=r.get("status"),
                updated_on=r.get("updated_on"), in_ponte=known, changed=changed,
                preselected=r["error"] is None and not known, error=r["error"], raw=r["raw"],
            )
        )  # fmt: skip
    session.add_all(items)
    await session.flush()
    return len(items)


async def run_preview(ctx: TaskContext, client: Any) -> TaskOutcome:
    """The ``import.preview`` handler's body (the caller opened the insurer client)."""
    async with ctx.runtime.db.unit_of_work() as session:
        await session.execute(delete(ImportPreviewItem).where(ImportPreviewItem.task_id == ctx.task_id))
    windows = periods.windows_from_param(ctx.params["windows"])
    listed = 0
    for index, (start, end) in enumerate(windows):
        await ctx.progress(index, len(windows), force=True)
        async with aclosing(client.iter_portfolio(start, end)) as pages:
            async for page in pages:
                async with ctx.runtime.db.unit_of_work() as session:
                    listed += await flag_page(session, ctx.tenant_id, ctx.task_id, ctx.params["insurer"], page)
    await ctx.progress(len(windows), len(windows), force=True)
    ctx.count("listed", listed)
    return TaskOutcome(result={"listed": listed})


async def get_preview(session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Task:
    task = await session.get(Task, task_id)
    if task is None or task.tenant_id != tenant_id or task.kind != PREVIEW_KIND:
        raise NotFound(f"Preview {task_id} does not exist.")
    return task


async def list_items(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    task_id: uuid.UUID,
    page: PageParams,
    *,
    in_ponte: bool | None = None,
    changed: bool | None = None,
) -> tuple[list[ImportPreviewItem], str | None]:
    await get_preview(session, tenant_id, task_id)
    stmt = select(ImportPreviewItem).where(ImportPreviewItem.task_id == task_id)
    if in_ponte is not None:
        stmt = stmt.where(ImportPreviewItem.in_ponte == in_ponte)
    if changed is not None:
        stmt = stmt.where(ImportPreviewItem.changed == changed)
    return await paginate(session, stmt, page, order_by=[ImportPreviewItem.id], descending=False)


async def selection_params(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    preview_id: uuid.UUID,
    numbers: list[str] | None,
) -> dict[str, Any]:
    """The ``import.run`` params importing the chosen numbers of a finished preview; without
    ``numbers``, the preselected ones (not yet in Ponte)."""
    preview = await get_preview(session, tenant_id, preview_id)
    if preview.subject_id != str(connection_id):
        raise Unprocessable(
            "The preview belongs to another connection.",
            errors=[FieldError(pointer="/preview_id", detail="not a preview of this connection")],
        )
    if preview.status != TaskStatus.succeeded:
        raise Conflict(f"Preview {preview_id} is {preview.status}; import from it once it has succeeded.")
    where = [ImportPreviewItem.task_id == preview_id, ImportPreviewItem.error.is_(None)]
    if numbers is None:
        where.append(ImportPreviewItem.preselected.is_(True))
    listed = {n for n in await session.scalars(select(ImportPreviewItem.policy_number).where(*where)) if n}
    chosen = sorted(listed) if numbers is None else list(dict.fromkeys(numbers))
    unknown = [n for n in chosen if n not in listed]
    if unknown:
        raise Unprocessable(
            f"{len(unknown)} number(s) are not in the preview's list: {', '.join(unknown[:5])}.",
            errors=[FieldError(pointer="/policy_numbers", detail="not listed by the preview")],
        )
    return {"mode": "selection", "preview_id": str(preview_id), "policy_numbers": chosen}


async def selected_records(ctx: TaskContext) -> list[dict[str, Any]]:
    """The raw records the preview read for the numbers chosen (one per number)."""
    async with ctx.runtime.db.sessionmaker() as session:
        rows = await session.scalars(
            select(ImportPreviewItem.raw).where(
                ImportPreviewItem.task_id == uuid.UUID(ctx.params["preview_id"]),
                ImportPreviewItem.policy_number.in_(ctx.params["policy_numbers"]),
                ImportPreviewItem.error.is_(None),
            )
        )
        return list(rows)
