"""Endpoint secrets and signature verification with the ``standardwebhooks`` library.

Verification tries each active secret (the library checks one at a time), so a rotated
secret keeps working through its grace period. ``svix-*`` headers are accepted as aliases
of ``webhook-*`` (same scheme, older name).
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.crypto import CredentialCipher

MAX_SECRETS = 4  # the current one and up to three still in their grace period


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def seal(cipher: CredentialCipher, secret: str, *, now: datetime, expires_at: datetime | None = None) -> dict[str, Any]:
    return {
        "token": cipher.encrypt({"secret": secret}).decode(),
        "created_at": now.isoformat(),
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def rotate(
    cipher: CredentialCipher, sealed: list[dict[str, Any]], *, now: datetime, grace_seconds: int
) -> tuple[list[dict[str, Any]], str, datetime | None]:
    """A new secret first; the previous ones stay valid ``grace_seconds`` (never longer than they
    already had), and only the newest few are kept. Returns the sealed list, the new secret in
    clear (shown once) and until when the previous one stays valid (None: it does not)."""
    until = now + timedelta(seconds=grace_seconds)
    kept: list[dict[str, Any]] = []
    for entry in sealed:
        expires = datetime.fromisoformat(entry["expires_at"]) if entry.get("expires_at") else None
        new_expiry = min(expires, until) if expires else until
        if new_expiry > now:
            kept.append({**entry, "expires_at": new_expiry.isoformat()})
    secret = new_secret()
    rotated = [seal(cipher, secret, now=now), *kept][:MAX_SECRETS]
    return rotated, secret, (until if kept and grace_seconds else None)


def active_secrets(cipher: CredentialCipher, sealed: list[dict[str, Any]], *, now: datetime) -> list[str]:
    out = []
    for entry in sealed:
        expires = entry.get("expires_at")
        if expires and datetime.fromisoformat(expires) <= now:
            continue
        out.append(str(cipher.decrypt(entry["token"].encode())["secret"]))
    return out


def signature_headers(headers: Any) -> dict[str, str]:
    out = {}
    for name in ("id", "timestamp", "signature"):
        value = headers.get(f"webhook-{name}") or headers.get(f"svix-{name}")
        if value:
            out[f"webhook-{name}"] = value
    return out


class SignatureError(Exception):
    pass


def verifiers(secrets: list[str]) -> list[Webhook]:
    """One verifier per active secret, built once per endpoint (the intake caches them)."""
    return [Webhook(secret) for secret in secrets]


def verify(body: bytes, headers: dict[str, str], candidates: list[Webhook], *, tolerance_seconds: int) -> None:
    """Raise ``SignatureError`` unless one of the endpoint's verifiers (see ``verifiers``)
    accepts ``body`` signed recently enough."""
    if len(headers) < 3:
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        sent = int(headers["webhook-timestamp"])
    except ValueError as exc:
        raise SignatureError("webhook-timestamp is not a Unix timestamp") from exc
    # The library enforces 5 minutes both ways; a smaller configured tolerance is checked here.
    try:
        outside = abs(time.time() - sent) > tolerance_seconds
    except OverflowError:  # more digits than a float holds: no time anyone signs at
        outside = True
    if outside:
        raise SignatureError("webhook-timestamp is outside the accepted tolerance")
    for webhook in candidates:
        try:
            webhook.verify(body, headers, json_parse=False)
            return
        except WebhookVerificationError as exc:
            if "timestamp" in str(exc).lower():
                raise SignatureError(str(exc)) from exc
        except (ValueError, TypeError) as exc:  # malformed signature list, bad base64, non-UTF-8 body
            raise SignatureError("malformed signature") from exc
    raise SignatureError("no valid signature for this endpoint")


def utcnow() -> datetime:
    return datetime.now(UTC)
