"""A tenant with a checked core-system connection to its own sandbox operator."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import msgspec
import pytest

_operators = itertools.count(1)


class Portal(msgspec.Struct):
    """One tenant and the sandbox operator behind its core system."""

    client: Any
    headers: dict[str, str]
    tenant_id: uuid.UUID
    core_url: str
    token: str

    @property
    def core_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def core(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.core_url}{path}", headers=self.core_headers, **kwargs)
        response.raise_for_status()
        return response.json()

    async def run(self, key: str, worker: Any) -> dict[str, Any]:
        """Start a sync now, run the worker until idle, return the finished run."""
        r = await self.client.post(f"/v1/portal/syncs/{key}/runs", headers=self.headers)
        assert r.status_code == 202, r.text
        await worker()
        r = await self.client.get(f"/v1/portal/runs/{r.json()['id']}", headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


async def connect(client: Any, headers: dict[str, str], core_url: str, token: str) -> None:
    r = await client.put("/v1/portal/connection", json={"base_url": core_url, "token": token}, headers=headers)
    assert r.status_code == 200, r.text
    r = await client.post("/v1/portal/connection/check", headers=headers)
    assert r.json()["check_status"] == "ok", r.text


@pytest.fixture
async def portal(client: Any, tenants: Any, sandbox: Any) -> Portal:
    t = await tenants.create()
    token = f"sandbox-portal-{uuid.uuid4().hex[:12]}-{next(_operators)}"
    p = Portal(client=client, headers=t.headers, tenant_id=t.tenant_id, core_url=f"{sandbox.url}/core", token=token)
    p.core("PUT", "/_config", json={"beneficiaries": 60, "providers": 30, "tiss_events": 40})
    await connect(client, t.headers, p.core_url, token)
    return p
