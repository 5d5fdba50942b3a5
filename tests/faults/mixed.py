"""A mixed load through the public API of real gateway processes: an insurer import, a portal
sync, document deliveries and Boavista reconciliation, started the way clients start them, and
what PostgreSQL and the partners hold afterwards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from gateway.db.session import Database
from tests.factories import TenantKey


@dataclass
class MixedLoad:
    http: httpx.AsyncClient
    tenant: TenantKey
    sandbox_url: str
    started: dict[str, str] = field(default_factory=dict)  # what -> task or run id
    establishment: str = ""

    async def insurer_import(self) -> None:
        """A Warta (REST) connection and a manual import of the last ten days."""
        body = {
            "insurer": "warta",
            "credentials": {"username": "broker-1", "password": "sandbox"},
            "base_url": f"{self.sandbox_url}/insurers/rest/warta",
            "options": {"product": "property"},
        }
        r = await self.http.post("/v1/insurer-connections", json=body, headers=self.tenant.headers)
        assert r.status_code == 201, r.text
        today = datetime.now(UTC).date()
        period = {"from": str(today - timedelta(days=10)), "to": str(today)}
        r = await self.http.post(
            f"/v1/insurer-connections/{r.json()['id']}/imports", json={"period": period}, headers=self.tenant.headers
        )
        assert r.status_code == 202, r.text
        assert r.json()["chained"] == []  # one window, one task: its counters cover the portfolio
        self.started["import"] = r.json()["task"]["id"]

    async def portal_sync(self) -> None:
        """The core-system connection, checked, and a full beneficiary sync."""
        token = f"sandbox-faults-{uuid.uuid4().hex[:12]}"
        core = f"{self.sandbox_url}/core"
        async with httpx.AsyncClient() as admin:
            config = {"beneficiaries": 200, "providers": 10, "tiss_events": 10}
            (
                await admin.put(f"{core}/_config", json=config, headers={"Authorization": f"Bearer {token}"})
            ).raise_for_status()
        h = self.tenant.headers
        r = await self.http.put("/v1/portal/connection", json={"base_url": core, "token": token}, headers=h)
        assert r.status_code == 200, r.text
        r = await self.http.post("/v1/portal/connection/check", headers=h)
        assert r.json()["check_status"] == "ok", r.text
        r = await self.http.post("/v1/portal/syncs/beneficiary.full/runs", headers=h)
        assert r.status_code == 202, r.text
        self.started["sync"] = r.json()["id"]

    async def reconciliation(self) -> None:
        """A Boavista establishment whose return webhook comes to the gateway, yesterday's ERP
        sales, and a run that remits them."""
        code = f"88{uuid.uuid4().int % 10**8:08d}"
        async with httpx.AsyncClient(base_url=self.sandbox_url) as admin:
            token = (await admin.put(f"/boavista/_establishments/{code}")).json()["token"]
            yesterday = datetime.now(ZoneInfo("America/Sao_Paulo")).date() - timedelta(days=1)
            items = (await admin.get(f"/boavista/_erp_sales/{code}", params={"day": str(yesterday)})).json()["items"]
        h = self.tenant.headers
        body = {"enabled": True, "establishment_code": code, "api_token": token, "base_url": self.sandbox_url}
        r = await self.http.put("/v1/reconciliation/establishment", json=body, headers=h)
        assert r.status_code == 200, r.text
        r = await self.http.post("/v1/reconciliation/sales", json={"items": items}, headers=h)
        assert r.status_code == 200, r.text
        r = await self.http.post("/v1/reconciliation/runs", headers=h)
        assert r.status_code in (201, 202), r.text
        self.establishment = code


async def rows(database_url: str, sql: str, **params: Any) -> list[Any]:
    db = Database(database_url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await db.dispose()


async def scalar(database_url: str, sql: str, **params: Any) -> Any:
    return (await rows(database_url, sql, **params))[0][0]
