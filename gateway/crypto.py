"""Secrets at rest: partner credentials encrypted with Fernet, API keys stored as hashes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def _fernet(secret: str) -> Fernet:
    # Any operator-chosen string becomes a valid Fernet key; a real Fernet key is used as is.
    try:
        return Fernet(secret.encode())
    except ValueError:
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


class CredentialCipher:
    """Encrypts with the first key, decrypts with any: rotate by prepending a new key."""

    def __init__(self, secret_keys: str) -> None:
        keys = [k.strip() for k in secret_keys.split(",") if k.strip()]
        if not keys:
            raise ValueError("PONTE_SECRET_KEY is empty")
        self._fernet = MultiFernet([_fernet(k) for k in keys])

    def encrypt(self, value: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(msgspec.json.encode(value))

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            return msgspec.json.decode(self._fernet.decrypt(token))  # type: ignore[no-any-return]
        except InvalidToken as exc:
            raise ValueError("credentials cannot be decrypted with the configured keys") from exc


API_KEY_PREFIX = "ponte_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()
