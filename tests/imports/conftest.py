"""Helpers for the import tests: sandbox insurer knobs, connections made through the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.imports.models import Policy, PolicyReceipt
from gateway.runtime import Runtime
from gateway.tasks.models import Task
from sandbox.server import SandboxServer

TODAY = datetime.now(UTC).date()


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


@pytest.fixture(autouse=True)
def insurers(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """A small portfolio per insurer, on the real clock (Ponte and the sandbox agree on today)."""
    httpx.put(f"{sandbox.url}/insurers/_config/", json={"policies_per_insurer": 300})
    yield sandbox
    httpx.delete(f"{sandbox.url}/insurers/_config/")


@pytest.fixture
def connect(client: Any, sandbox: SandboxServer) -> Any:
    async def make(tenant: Any, insurer: str = "warta", **body: Any) -> dict[str, Any]:
        payload = {
            "insurer": insurer,
            "credentials": {"username": body.pop("username", "broker-1"), "password": body.pop("password", "sandbox")},
            "base_url": f"{sandbox.url}/insurers/{'rest' if insurer in REST else 'soap'}/{insurer}",
            "options": {"product": "property"} if insurer == "warta" else {},
            **body,
        }
        r = await client.post("/v1/insurer-connections", json=payload, headers=tenant.headers)
        assert r.status_code == 201, r.text
        return r.json()

    return make


async def set_faults(sandbox_url: str, **faults: Any) -> None:
    async with httpx.AsyncClient() as http:
        (await http.put(f"{sandbox_url}/_faults/insurers", json=faults)).raise_for_status()


REST = {"ergo-hestia", "generali-merkury", "proama", "tuz", "insly", "unilink", "asf-premium", "skaner2", "warta"}


async def launch(client: Any, tenant: Any, connection: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = await client.post(f"/v1/insurer-connections/{connection['id']}/imports", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    return r.json()


def period(start: date | str, end: date | str) -> dict[str, str]:
    return {"from": str(start), "to": str(end)}


async def get_import(client: Any, tenant: Any, task_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/imports/{task_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def policies(runtime: Runtime, tenant_id: uuid.UUID) -> list[Policy]:
    async with runtime.db.sessionmaker() as session:
        return list((await session.scalars(select(Policy).where(Policy.tenant_id == tenant_id))).all())


async def receipts(runtime: Runtime, tenant_id: uuid.UUID) -> list[PolicyReceipt]:
    async with runtime.db.sessionmaker() as session:
        return list((await session.scalars(select(PolicyReceipt).where(PolicyReceipt.tenant_id == tenant_id))).all())


async def load_task(runtime: Runtime, task_id: str | uuid.UUID) -> Task:
    async with runtime.db.sessionmaker() as session:
        return (await session.scalars(select(Task).where(Task.id == uuid.UUID(str(task_id))))).one()
