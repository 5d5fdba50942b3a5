"""Signing deliveries the Standard Webhooks way, with the reference ``standardwebhooks`` library.

``webhook-id`` is the event id on every attempt, so receivers deduplicate on it. During a
rotation's grace period every active secret signs and the signatures are sent space-separated
(the spec's format), so a receiver still on the old secret verifies too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

from gateway.crypto import CredentialCipher
from gateway.db.base import utcnow
from gateway.webhooks import signing as secrets_store


class SignerCache:
    """Decrypted signers per endpoint version: Fernet and base64 once, not per attempt."""

    def __init__(self, cipher: CredentialCipher) -> None:
        self.cipher = cipher
        self._cache: dict[uuid.UUID, tuple[datetime, float, list[Webhook]]] = {}

    def signers(self, endpoint_id: uuid.UUID, version: datetime, sealed: list[dict[str, Any]]) -> list[Webhook]:
        now = utcnow()
        cached = self._cache.get(endpoint_id)
        # Re-read on a new version, and at least every minute: a grace period may have ended.
        if cached is None or cached[0] != version or cached[1] < now.timestamp():
            active = secrets_store.active_secrets(self.cipher, sealed, now=now)
            cached = (version, now.timestamp() + 60, [Webhook(s) for s in active])
            self._cache[endpoint_id] = cached
        return cached[2]


def headers_for(event_id: uuid.UUID | str, body: bytes, signers: list[Webhook], now: datetime) -> dict[str, str]:
    msg_id = str(event_id)
    text = body.decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(s.sign(msg_id, now, text) for s in signers),
        "content-type": "application/json",
    }
