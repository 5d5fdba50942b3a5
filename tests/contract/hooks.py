"""Schemathesis hooks for the contract run (loaded through SCHEMATHESIS_HOOKS).

An Idempotency-Key means "this is a retry of that request": the same key with another body is
a 422 by design. The generator reuses a few key values across unrelated requests, so each valid
key is made unique, as a real client's would be. Invalid keys (negative tests) are left alone.

A cursor is opaque: only one the API issued is valid, and a generator cannot mint one. Positive
cases drop a generated cursor (a client only sends ``next_cursor`` back); negative ones keep it,
so a malformed cursor is still seen to be rejected.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and _VALID_KEY.fullmatch(value):
            headers[name] = uuid.uuid4().hex
    meta = getattr(case, "meta", None)
    if meta is not None and meta.generation.mode.is_positive and isinstance(case.query, dict):
        case.query.pop("cursor", None)
