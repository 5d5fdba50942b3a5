"""Boavista as the tests see it: a fresh establishment, the ERP's sales, and a relay (a
WebhookReceiver) that captures the signed return webhooks so a test can hand them to Ponte's inbox."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
from sqlalchemy import select

from gateway.db.base import utcnow
from gateway.reconciliation.flows import RUN_KIND
from gateway.reconciliation.models import CardSale, EstablishmentSetting
from gateway.runtime import Runtime
from gateway.tasks import service as tasks_service
from gateway.webhooks.models import WebhookEndpoint
from gateway.webhooks.signing import active_secrets
from sandbox.boavista.ledger import DIVERGENCES, LedgerConfig, sales_of_day
from tests.boavista_sandbox import WebhookReceiver

TZ = "America/Sao_Paulo"
_codes = itertools.count(1)


def today_local() -> date:
    return datetime.now(ZoneInfo(TZ)).date()


def at_local(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(TZ)).astimezone(UTC)


PLANTED_DAYS = tuple(today_local() - timedelta(days=n) for n in (2, 1))


def establishment_code(config: LedgerConfig, days: tuple[date, ...]) -> str:
    """A fresh establishment code (random, so tests never share one) whose ERP sales on ``days``
    carry every kind of divergence: the tests check each reason, so none may be left to chance."""
    while True:
        code = f"77{uuid.uuid4().int % 10**8:08d}"
        planted = {s.divergence for day in days for s in sales_of_day(config, code, day)}
        if planted >= set(DIVERGENCES):
            return code


class Boavista:
    """The tenant's side (Ponte API) and Boavista's test-only side for one fresh establishment."""

    def __init__(
        self,
        client: Any,
        admin: httpx.AsyncClient,
        runtime: Runtime,
        relay: WebhookReceiver,
        tenant: Any,
        sandbox_url: str,
        ledger_config: dict[str, Any],
    ) -> None:
        self.client, self.admin, self.runtime, self.relay, self.tenant = client, admin, runtime, relay, tenant
        self.sandbox_url = sandbox_url
        self.code = establishment_code(msgspec.convert(ledger_config, LedgerConfig), PLANTED_DAYS)
        self.token = ""

    async def register(self) -> None:
        answer = await self.admin.put(f"/boavista/_establishments/{self.code}")
        self.token = answer.json()["token"]

    async def enable(self) -> dict[str, Any]:
        body = {"enabled": True, "establishment_code": self.code, "api_token": self.token, "base_url": self.sandbox_url}
        r = await self.client.put("/v1/reconciliation/establishment", json=body, headers=self.tenant.headers)
        assert r.status_code == 200, r.text
        # Ponte's public URL is not reachable in tests: point Boavista at the relay, same secret.
        async with self.runtime.db.sessionmaker() as session:
            setting = await session.get_one(EstablishmentSetting, self.tenant.tenant_id)
            endpoint = await session.get_one(WebhookEndpoint, setting.webhook_endpoint_id)
        secret = active_secrets(self.runtime.cipher, endpoint.secrets, now=utcnow())[0]
        target = {"url": self.relay.url, "secret": secret}
        auth = {"authorization": f"Bearer {self.token}"}
        (
            await self.admin.put(f"/boavista/establishments/{self.code}/webhook", json=target, headers=auth)
        ).raise_for_status()
        self.endpoint_id = endpoint.id
        return r.json()  # type: ignore[no-any-return]

    async def erp_day(self, day: date, **params: Any) -> dict[str, Any]:
        answer = await self.admin.get(f"/boavista/_erp_sales/{self.code}", params={"day": day.isoformat(), **params})
        return answer.json()  # type: ignore[no-any-return]

    async def post_sales(self, items: list[dict[str, Any]]) -> httpx.Response:
        return await self.client.post("/v1/reconciliation/sales", json={"items": items}, headers=self.tenant.headers)  # type: ignore[no-any-return]

    async def run(self, now: datetime, worker: Callable[..., Any]) -> uuid.UUID:
        async with self.runtime.db.unit_of_work(self.runtime.queue) as session:
            task, _ = await tasks_service.create_task(
                session, tenant_id=self.tenant.tenant_id, kind=RUN_KIND, params={"now": now.isoformat()}
            )
        await worker()
        return task.id

    async def deliver_returns(
        self, remittance_id: str, worker: Callable[..., Any], nth: int = 1
    ) -> list[httpx.Response]:
        """Hand the ``nth`` captured return message to Ponte's inbox, exactly as signed, and process it."""
        answers = []
        for headers, body in (await self.relay.wait_for(remittance_id, nth))[nth - 1 : nth]:
            signed = {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
            signed["content-type"] = "application/json"
            answers.append(await self.client.post(f"/v1/webhooks/{self.endpoint_id}", content=body, headers=signed))
        await worker()
        return answers

    async def sales(self) -> dict[str, CardSale]:
        async with self.runtime.db.sessionmaker() as session:
            rows = await session.scalars(select(CardSale).where(CardSale.tenant_id == self.tenant.tenant_id))
            return {s.sale_id: s for s in rows}


def days_before(day: date, n: int) -> date:
    return day - timedelta(days=n)
