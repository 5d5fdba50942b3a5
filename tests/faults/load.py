"""The load the fault tests drive through real gateway processes, as partners and clients would."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text

from gateway.db.session import Database
from tests.factories import TenantFactory, TenantKey
from tests.webhooks.support import envelope, signed_headers


async def document_tenant(
    http: httpx.AsyncClient, operator_key: str, sandbox_url: str
) -> tuple[TenantKey, dict[str, Any]]:
    """A tenant with the client portal integration on and a task-system webhook endpoint."""
    t = await TenantFactory(http, {"Authorization": f"Bearer {operator_key}"}).create()
    body = {
        "enabled": True,
        "token": f"ptk_{t.slug}",
        "base_url": f"{sandbox_url}/portal",
        "apply_default_folders": True,
    }
    r = await http.put("/v1/document-portal/integration", json=body, headers=t.headers)
    assert r.status_code == 200, r.text
    r = await http.post("/v1/webhook-endpoints", json={"source": "task-system"}, headers=t.headers)
    assert r.status_code == 201, r.text
    return t, r.json()


def task_completed(n: int, docs: int) -> bytes:
    documents = [
        {
            "id": f"doc-{n}-{i}",
            "template": "DAS",
            "file_name": f"DAS {n}-{i}.pdf",
            "content_base64": base64.b64encode(f"%PDF {n} {i}".encode()).decode(),
        }
        for i in range(docs)
    ]
    data = {
        "task_id": f"T-{n}",
        "client_id": f"cli-{n % 5}",
        "employee": "Ana",
        "completed_at": "2026-11-20T15:00:00Z",
        "documents": documents,
    }
    return envelope("task.completed", data)


async def post_event(http: httpx.AsyncClient, endpoint: dict[str, Any], body: bytes, msg_id: str) -> httpx.Response:
    headers = signed_headers(endpoint["secret"], body, msg_id=msg_id)
    return await http.post(f"/v1/webhooks/{endpoint['id']}", content=body, headers=headers)


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


@dataclass
class FinalState:
    processed_events: set[str]
    succeeded_tasks: set[str]
    tasks_not_succeeded: int
    delivered: int


async def final_state(
    database_url: str, *, expect_events: int, expect_deliveries: int, timeout: float = 90
) -> FinalState:
    """Wait until every event is processed and every task is done; then what the database holds."""
    db = Database(database_url, pool_size=1)
    try:

        async def read() -> FinalState:
            async with db.engine.connect() as conn:
                processed = {
                    str(i)
                    for i in (
                        await conn.execute(text("SELECT id FROM webhook_events WHERE status = 'processed'"))
                    ).scalars()
                }
                succeeded = {
                    str(i)
                    for i in (await conn.execute(text("SELECT id FROM tasks WHERE status = 'succeeded'"))).scalars()
                }
                others = (
                    await conn.execute(text("SELECT count(*) FROM tasks WHERE status <> 'succeeded'"))
                ).scalar_one()
                delivered = (
                    await conn.execute(text("SELECT count(*) FROM document_deliveries WHERE status = 'delivered'"))
                ).scalar_one()
            return FinalState(processed, succeeded, others, delivered)

        async def done() -> bool:
            state = await read()
            return (
                len(state.processed_events) >= expect_events
                and state.tasks_not_succeeded == 0
                and state.delivered >= expect_deliveries
            )

        await wait_until(done, timeout)
        return await read()
    finally:
        await db.dispose()


async def portal_files_of(sandbox_url: str, t: TenantKey) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{sandbox_url}/portal/_files", params={"firm": t.slug})
    r.raise_for_status()
    return r.json()["items"]  # type: ignore[no-any-return]


class Load:
    """A tenant whose task system posts signed task-completed events, and what was acknowledged."""

    def __init__(self, http: httpx.AsyncClient, tenant: TenantKey, endpoint: dict[str, Any], docs: int) -> None:
        self.http = http
        self.tenant = tenant
        self.endpoint = endpoint
        self.docs = docs
        self.acked: dict[str, str] = {}  # webhook-id -> event id, for every 202

    @classmethod
    async def start(cls, http: httpx.AsyncClient, operator_key: str, sandbox_url: str, *, docs: int) -> Load:
        tenant, endpoint = await document_tenant(http, operator_key, sandbox_url)
        return cls(http, tenant, endpoint, docs)

    async def send(self, n: int) -> httpx.Response:
        r = await post_event(self.http, self.endpoint, task_completed(n, self.docs), f"msg_{n}")
        if r.status_code == 202:
            self.acked[f"msg_{n}"] = r.json()["id"]
        return r

    def file_names(self, events: range) -> list[str]:
        return [f"DAS {n}-{i}.pdf" for n in events for i in range(self.docs)]

    async def running(self) -> list[str]:
        r = await self.http.get("/v1/tasks", params={"status": "running", "limit": 100}, headers=self.tenant.headers)
        return [task["id"] for task in r.json()["items"]]

    async def wait_running(self, timeout: float = 60) -> list[str]:
        """Wait until some task is running; return the ids of those running."""
        running: list[str] = []

        async def some() -> bool:
            running[:] = await self.running()
            return bool(running)

        await wait_until(some, timeout)
        return running


async def responds(http: httpx.AsyncClient, path: str, status: int, timeout: float) -> None:
    async def answers() -> bool:
        try:
            return (await http.get(path)).status_code == status
        except httpx.TransportError:
            return False

    await wait_until(answers, timeout)
