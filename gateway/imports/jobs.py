"""The ``import.run`` task: read from the insurer page by page and upsert each page.

Pages stream through: one page is written while the next is being fetched, and nothing holds
more than two pages, so memory stays flat whatever the portfolio size. Each page commits on
its own, so a retry (transient partner error, crash) re-reads from the start and finds the
rows it already wrote *unchanged*. A partner error escapes to the runner, which retries
transient ones with backoff and fails permanent ones; a bad record only fails its own row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import delete, func, update

from gateway.imports import health, periods, preview, realtime, schedule
from gateway.imports.connections import open_client
from gateway.imports.models import ImportResult, InsurerConnection
from gateway.imports.service import KIND
from gateway.imports.upsert import Tally, apply_records
from gateway.partners.errors import PermanentPartnerError
from gateway.tasks.models import TaskStatus
from gateway.tasks.registry import task_handler
from gateway.tasks.runner import TaskContext, TaskFailed, TaskOutcome

T = TypeVar("T")

# Records per partner request: bigger pages mean fewer round trips and fewer statements, and
# 1,000 is what the insurers accept; memory stays at two pages either way.
PAGE_SIZE = 1000

__all__ = ["realtime", "run_import", "run_import_preview", "schedule"]  # importing this module registers all of them


async def prefetch(pages: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield ``pages`` while the next one is already being fetched (at most one ahead)."""
    upcoming = asyncio.ensure_future(anext(pages))
    try:
        while True:
            try:
                page = await upcoming
            except StopAsyncIteration:
                return
            upcoming = asyncio.ensure_future(anext(pages))
            yield page
    finally:
        upcoming.cancel()


def record(ctx: TaskContext, tally: Tally) -> None:
    for name, n in tally.counters.items():
        ctx.count(name, n)


async def load_connection(ctx: TaskContext) -> InsurerConnection:
    async with ctx.runtime.db.sessionmaker() as session:
        connection = await session.get(InsurerConnection, uuid.UUID(ctx.params["connection_id"]))
    if connection is None or connection.tenant_id != ctx.tenant_id:
        raise TaskFailed("the connection was deleted", code="connection_deleted")
    if not connection.enabled:
        raise TaskFailed("the connection is disabled", code="connection_disabled")
    return connection


@task_handler(KIND)
async def run_import(ctx: TaskContext) -> TaskOutcome:
    connection = await load_connection(ctx)
    async with ctx.runtime.db.unit_of_work() as session:
        # A re-run rebuilds the detail, as it recounts the counters.
        await session.execute(delete(ImportResult).where(ImportResult.task_id == ctx.task_id))
    mode = ctx.params["mode"]
    result: dict[str, Any] = {}
    try:
        if mode == "record":
            await realtime.apply_pushed(ctx, connection)
        elif mode == "policy":
            async with open_client(ctx.runtime, connection, options=ctx.params.get("options")) as client:
                found = await client.get_policy(ctx.params["policy_number"])
            await apply_page(ctx, connection, [found])
        elif mode == "selection":
            records = await preview.selected_records(ctx)
            for start in range(0, len(records), PAGE_SIZE):
                await apply_page(ctx, connection, records[start : start + PAGE_SIZE])
        else:
            result["windows"] = await import_windows(ctx, connection)
    except PermanentPartnerError as exc:
        if exc.code in health.CREDENTIAL_CODES:  # the connection overview shows them refused
            await health.record_credentials(ctx.runtime, connection.id, exc.code)
        raise
    if mode not in ("record", "selection"):  # the insurer accepted the credentials
        await health.record_credentials(ctx.runtime, connection.id, None)
    failed = ctx.counters.get("policies_failed", 0) + ctx.counters.get("receipts_failed", 0)
    if failed:
        result["failed_records"] = failed
        return TaskOutcome(TaskStatus.partially_succeeded, result=result)
    return TaskOutcome(result=result)


@task_handler(preview.PREVIEW_KIND)
async def run_import_preview(ctx: TaskContext) -> TaskOutcome:
    """Read the insurer's list for the period and flag it; nothing is imported."""
    connection = await load_connection(ctx)
    page_size = int(ctx.params.get("page_size", PAGE_SIZE))
    try:
        async with open_client(ctx.runtime, connection, page_size=page_size, options=ctx.params.get("options")) as c:
            outcome = await preview.run_preview(ctx, c)
    except PermanentPartnerError as exc:
        if exc.code in health.CREDENTIAL_CODES:
            await health.record_credentials(ctx.runtime, connection.id, exc.code)
        raise
    await health.record_credentials(ctx.runtime, connection.id, None)
    return outcome


async def apply_page(ctx: TaskContext, connection: InsurerConnection, page: list[dict[str, Any]]) -> Tally:
    async with ctx.runtime.db.unit_of_work() as session:
        tally = await apply_records(
            session, page, tenant_id=ctx.tenant_id, insurer=connection.insurer, task_id=ctx.task_id,
            connection_id=connection.id,
        )  # fmt: skip
    record(ctx, tally)
    return tally


async def import_windows(ctx: TaskContext, connection: InsurerConnection) -> list[dict[str, Any]]:
    windows = periods.windows_from_param(ctx.params["windows"])
    done: list[dict[str, Any]] = []
    page_size = int(ctx.params.get("page_size", PAGE_SIZE))
    options = ctx.params.get("options")
    async with open_client(ctx.runtime, connection, page_size=page_size, options=options) as client:
        for index, (start, end) in enumerate(windows):
            await ctx.progress(index, len(windows), force=True)
            read = 0
            async with aclosing(prefetch(client.iter_portfolio(start, end))) as pages:
                async for page in pages:
                    await apply_page(ctx, connection, page)
                    read += len(page)
                    await ctx.progress()  # saves the counters now and then, so they grow live
            done.append({"from": start.isoformat(), "to": end.isoformat(), "records": read})
    await ctx.progress(len(windows), len(windows), force=True)
    await advance_coverage(ctx, connection.id, windows[-1][1])
    return done


async def advance_coverage(ctx: TaskContext, connection_id: uuid.UUID, end: date) -> None:
    """Remember how far imports reached; the scheduler starts the next run from here."""
    async with ctx.runtime.db.unit_of_work() as session:
        await session.execute(
            update(InsurerConnection)
            .where(InsurerConnection.id == connection_id)
            .values(covered_until=func.greatest(func.coalesce(InsurerConnection.covered_until, end), end))
        )
