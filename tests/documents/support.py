"""Driving the documents capability as the task system and the firm would."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from sqlalchemy import select
from sqlalchemy.orm import undefer

from gateway.documents.jobs import on_task_completed
from gateway.documents.models import DocumentDelivery
from gateway.runtime import Runtime
from gateway.tasks.models import Task
from gateway.tasks.runner import TaskContext
from gateway.webhooks.events import TaskCompleted
from gateway.webhooks.registry import InboundEvent
from tests.factories import TenantKey


def firm(t: TenantKey) -> str:
    # Each tenant is its own firm in the session-wide sandbox portal, so tests never share files.
    return t.slug


async def enable_portal(client: Any, sandbox_url: str, t: TenantKey, *, defaults: bool = True) -> dict[str, Any]:
    body = {
        "enabled": True,
        "token": f"ptk_{firm(t)}",
        "base_url": f"{sandbox_url}/portal",
        "apply_default_folders": defaults,
    }
    r = await client.put("/v1/document-portal/integration", json=body, headers=t.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def document(
    doc_id: str,
    *,
    template: str = "DAS",
    file_name: str = "DAS Janeiro.pdf",
    content: bytes | None = None,
    **extra: Any,
) -> dict[str, Any]:
    content = content if content is not None else f"%PDF {doc_id}".encode()
    return {
        "id": doc_id,
        "template": template,
        "file_name": file_name,
        "content_base64": base64.b64encode(content).decode(),
        **extra,
    }


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def task_completed(
    documents: list[dict[str, Any]], *, client_id: str = "cli-1", task_id: str = "T-1"
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "client_id": client_id,
        "employee": "Ana",
        "completed_at": "2026-11-20T15:00:00Z",
        "documents": documents,
    }


def inbound_event(t: TenantKey, payload: dict[str, Any], *, event_id: uuid.UUID | None = None) -> InboundEvent:
    """A stored task-completed event, as processing reads it."""
    event_id = event_id or uuid.uuid4()
    return InboundEvent(
        id=event_id,
        tenant_id=t.tenant_id,
        endpoint_id=uuid.uuid4(),
        source="task-system",
        type="task.completed",
        webhook_id=f"msg_{event_id.hex}",
        received_at=datetime.now(UTC),
        data=msgspec.convert(payload, TaskCompleted),
    )


def processing_context(runtime: Runtime, t: TenantKey) -> TaskContext:
    """The context of one ``webhook.process`` run, as the inbox worker makes it for a batch."""
    return TaskContext(
        task_id=uuid.uuid4(),
        tenant_id=t.tenant_id,
        kind="webhook.process",
        subject_id=None,
        trigger="webhook",
        params={},
        attempt=1,
        runtime=runtime,
    )


async def complete_task(
    runtime: Runtime,
    t: TenantKey,
    payload: dict[str, Any],
    *,
    event_id: uuid.UUID | None = None,
    ctx: TaskContext | None = None,
) -> uuid.UUID:
    """Run the task-completed handler as the inbox worker does for a stored event (in the
    batch run ``ctx``, if given)."""
    event = inbound_event(t, payload, event_id=event_id)
    ctx = ctx or processing_context(runtime, t)
    await on_task_completed(ctx, event)
    await ctx.send_jobs()  # enqueued: the tests' worker runs them (a runner would run them itself)
    return event.id


async def deliveries(runtime: Runtime, t: TenantKey) -> list[DocumentDelivery]:
    async with runtime.db.sessionmaker() as session:
        rows = await session.scalars(
            select(DocumentDelivery)
            .options(undefer(DocumentDelivery.content))
            .where(DocumentDelivery.tenant_id == t.tenant_id)
            .order_by(DocumentDelivery.document_id)
        )
        return list(rows.all())


async def delivery_tasks(runtime: Runtime, t: TenantKey) -> list[Task]:
    async with runtime.db.sessionmaker() as session:
        rows = await session.scalars(
            select(Task).where(Task.tenant_id == t.tenant_id, Task.kind == "documents.deliver")
        )
        return list(rows.all())


async def sandbox_call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """The sandbox's admin routes (file listing, client overrides, faults, content source)."""
    async with httpx.AsyncClient() as http:
        r = await http.request(method, url, **kwargs)
    r.raise_for_status()
    return r


async def portal_files(sandbox_url: str, t: TenantKey, client_id: str = "cli-1") -> list[dict[str, Any]]:
    r = await sandbox_call("GET", f"{sandbox_url}/portal/_files", params={"firm": firm(t), "client_id": client_id})
    return r.json()["items"]  # type: ignore[no-any-return]


async def set_portal_client(sandbox_url: str, client_id: str, **settings: Any) -> None:
    await sandbox_call("PUT", f"{sandbox_url}/portal/_clients/{client_id}", json=settings)


async def set_portal_faults(sandbox_url: str, **faults: Any) -> None:
    await sandbox_call("PUT", f"{sandbox_url}/_faults/portal", json=faults)


async def clear_faults(sandbox_url: str) -> None:
    await sandbox_call("DELETE", f"{sandbox_url}/_faults/")
