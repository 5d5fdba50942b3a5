"""Boavista's side of a remittance: intake, reconciliation, and the return posted as a signed webhook.

State lives in memory for the life of the sandbox process. Returns keep only their result
items (not the ERP items), so a benchmark can push a million sales through without the
sandbox holding them twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from standardwebhooks import Webhook

from sandbox.boavista.ledger import LedgerConfig, iso
from sandbox.boavista.matching import ErpSale, reconcile

DEFAULT_ESTABLISHMENTS = ("1020304050", "2030405060", "3040506070", "4050607080", "5060708090")


class BoavistaConfig(LedgerConfig, frozen=True):
    return_delay_s: float = 0.2  # how long Boavista "processes" a remittance before returning it
    retry_delays_s: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)  # waits between webhook attempts


class WebhookTarget(msgspec.Struct, frozen=True):
    url: str
    secret: str


class RemittanceIn(msgspec.Struct, frozen=True):
    remittance_id: str
    items: list[ErpSale]


@dataclass
class Remittance:
    code: str
    remittance_id: str
    protocol: str
    received_at: datetime
    fingerprint: str
    item_count: int
    returned_at: datetime | None = None
    return_items: list[dict[str, object]] | None = None

    def receipt(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "remittance_id": self.remittance_id,
            "establishment_code": self.code,
            "received_at": iso(self.received_at),
            "item_count": self.item_count,
            "status": "received" if self.returned_at is None else "returned",
            "returned_at": None if self.returned_at is None else iso(self.returned_at),
        }


@dataclass
class Delivery:
    """One webhook message (one ``webhook-id``) and every attempt made to deliver it."""

    webhook_id: str
    kind: str  # return | resend | second_return
    code: str
    remittance_id: str
    body: str
    url: str | None = None
    status: str = "pending"  # pending | delivered | failed | no_target
    attempts: list[dict[str, object]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "webhook_id": self.webhook_id,
            "kind": self.kind,
            "establishment_code": self.code,
            "remittance_id": self.remittance_id,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
        }


def establishment_token(code: str) -> str:
    """Tokens are derived from the code so they survive a sandbox restart."""
    return "bvt_" + hashlib.blake2b(f"boavista-token:{code}".encode(), digest_size=16).hexdigest()


class Boavista:
    """Everything the integrator remembers: configuration, establishments, remittances, deliveries."""

    def __init__(self) -> None:
        self.config = BoavistaConfig()
        self.tokens = {code: establishment_token(code) for code in DEFAULT_ESTABLISHMENTS}
        self.webhooks: dict[str, WebhookTarget] = {}
        self.remittances: dict[tuple[str, str], Remittance] = {}
        self.deliveries: list[Delivery] = []
        self._protocols = itertools.count(1)
        self._messages = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def receive(self, code: str, remittance: RemittanceIn) -> tuple[Remittance, bool]:
        """Register a remittance; the same id with the same items returns the first receipt."""
        fingerprint = hashlib.blake2b(msgspec.json.encode(remittance.items), digest_size=16).hexdigest()
        known = self.remittances.get((code, remittance.remittance_id))
        if known is not None:
            return known, known.fingerprint == fingerprint
        now = datetime.now(UTC)
        stored = Remittance(
            code=code,
            remittance_id=remittance.remittance_id,
            protocol=f"BV{now:%Y%m%d}{next(self._protocols):08d}",
            received_at=now,
            fingerprint=fingerprint,
            item_count=len(remittance.items),
        )
        self.remittances[code, remittance.remittance_id] = stored
        self._spawn(self._process(stored, remittance.items))
        return stored, True

    def find(self, remittance_id: str, code: str | None = None) -> list[Remittance]:
        return [r for (c, rid), r in self.remittances.items() if rid == remittance_id and code in (None, c)]

    def resend(self, remittance: Remittance) -> Delivery | None:
        """Deliver the last return message again with the same webhook id (a duplicate delivery)."""
        sent = [d for d in self.deliveries if d.remittance_id == remittance.remittance_id and d.code == remittance.code]
        if not sent:
            return None
        delivery = Delivery(sent[-1].webhook_id, "resend", remittance.code, remittance.remittance_id, sent[-1].body)
        self._dispatch(delivery)
        return delivery

    def return_again(self, remittance: Remittance) -> Delivery | None:
        """A second, distinct return message for the same remittance (new webhook id, new timestamp)."""
        if remittance.return_items is None:
            return None
        return self._send_return(remittance, "second_return")

    async def _process(self, remittance: Remittance, items: list[ErpSale]) -> None:
        await asyncio.sleep(self.config.return_delay_s)
        cfg, code = self.config, remittance.code
        # Reconciling a big remittance is CPU work; a thread keeps the sandbox answering meanwhile.
        remittance.return_items = await asyncio.to_thread(lambda: [reconcile(cfg, code, sale) for sale in items])
        remittance.returned_at = datetime.now(UTC)
        self._send_return(remittance, "return")

    def _send_return(self, remittance: Remittance, kind: str) -> Delivery:
        now = datetime.now(UTC)
        envelope = {
            "type": "remittance.returned",
            "timestamp": iso(now),
            "data": {
                "establishment_code": remittance.code,
                "remittance_id": remittance.remittance_id,
                "protocol": remittance.protocol,
                "returned_at": iso(now),
                "items": remittance.return_items,
            },
        }
        webhook_id = f"msg_{remittance.protocol}_{next(self._messages):06d}"
        body = msgspec.json.encode(envelope).decode()
        delivery = Delivery(webhook_id, kind, remittance.code, remittance.remittance_id, body)
        self._dispatch(delivery)
        return delivery

    def _dispatch(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._spawn(self._deliver(delivery))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # Keep a reference: the event loop holds tasks weakly and could drop one mid-flight.
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery) -> None:
        """POST with Standard Webhooks headers, retrying on non-2xx and connection errors."""
        target = self.webhooks.get(delivery.code)
        if target is None:
            delivery.status = "no_target"
            return
        delivery.url = target.url
        signer = Webhook(target.secret)
        async with httpx.AsyncClient(timeout=5.0) as client:
            for wait in (0.0, *self.config.retry_delays_s):
                await asyncio.sleep(wait)
                sent_at = datetime.now(UTC)
                headers = {
                    "content-type": "application/json",
                    "user-agent": "Boavista-Webhooks/1.0",
                    "webhook-id": delivery.webhook_id,
                    "webhook-timestamp": str(int(sent_at.timestamp())),
                    "webhook-signature": signer.sign(delivery.webhook_id, sent_at, delivery.body),
                }
                attempt: dict[str, object] = {"at": iso(sent_at), "status_code": None, "error": None}
                delivery.attempts.append(attempt)
                try:
                    response = await client.post(target.url, content=delivery.body, headers=headers)
                except httpx.HTTPError as exc:
                    attempt["error"] = type(exc).__name__
                    continue
                attempt["status_code"] = response.status_code
                if response.is_success:
                    delivery.status = "delivered"
                    return
        delivery.status = "failed"
