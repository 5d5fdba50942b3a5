"""Turning an insurer's policy record (see ``gateway.partners.insurer_rest``) into table rows.

Insurers send what they have: a record may lack its number or carry ``2024-02-30``. Each
record is checked here on its own, so one bad record fails alone with a readable error. The
content hash covers what a person would call the record's content (not ``as_of``), and
decides updated vs unchanged.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import msgspec

INSURER_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
RECEIPT_STATUSES = frozenset({"pending", "paid", "cancelled", "returned"})
POLICY_FIELDS = (
    "product", "status", "holder_name", "holder_tax_id", "holder_tax_id_type", "start_date", "end_date",
    "premium_cents", "currency", "updated_on",
)  # fmt: skip
RECEIPT_FIELDS = ("policy_number", "due_date", "amount_cents", "currency", "status", "status_changed_on")


class RecordError(ValueError):
    """What is wrong with one record, in words a broker can act on."""


@dataclass
class PolicyRows:
    """A valid policy record as rows: the policy and its receipts (bad receipts aside)."""

    policy: dict[str, Any]
    receipts: list[dict[str, Any]] = field(default_factory=list)
    bad_receipts: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def content_hash(row: dict[str, Any], fields: tuple[str, ...]) -> bytes:
    return hashlib.blake2b(msgspec.json.encode([row[f] for f in fields]), digest_size=16).digest()


def _text(raw: dict[str, Any], key: str, *, required: bool = False, max_length: int = 300) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise RecordError(f"{key} is missing")
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} must be text, got {type(value).__name__}")
    if len(value) > max_length:
        raise RecordError(f"{key} is longer than {max_length} characters")
    return value


def _day(raw: dict[str, Any], key: str) -> date | None:
    value = _text(raw, key, max_length=40)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{key} {value!r} is not a valid date") from None


def _int(raw: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise RecordError(f"{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{key} must be an integer amount in minor units")
    return value


def parse_as_of(value: object) -> datetime:
    if isinstance(value, datetime):
        as_of = value
    else:
        try:
            as_of = datetime.fromisoformat(str(value))
        except ValueError:
            raise RecordError(f"as_of {value!r} is not a timestamp") from None
    if as_of.tzinfo is None:
        raise RecordError("as_of has no time zone")
    return as_of


def underwriting_insurer(raw: dict[str, Any], source: str) -> str:
    """The insurer that underwrote the policy: aggregators name it on each record; a direct
    source is its own underwriter."""
    code = _text(raw, "underwriting_insurer", max_length=40)
    if code is None:
        return source
    if not INSURER_CODE.match(code):
        raise RecordError(f"underwriting_insurer {code!r} is not an insurer code")
    return code


def policy_rows(raw: dict[str, Any], *, tenant_id: uuid.UUID, insurer: str) -> PolicyRows:
    """The rows for one record read from source ``insurer``; ``RecordError`` if the policy
    itself cannot be stored. The rows carry the *underwriting* insurer, the policy's key."""
    if raw.get("as_of") is None:
        raise RecordError("as_of is missing")
    row: dict[str, Any] = {
        "tenant_id": tenant_id,
        "insurer": underwriting_insurer(raw, insurer),
        "policy_number": _text(raw, "policy_number", required=True, max_length=100),
        "product": _text(raw, "product", max_length=200),
        "status": _text(raw, "status", required=True, max_length=40),
        "holder_name": _text(raw, "holder_name"),
        "holder_tax_id": _text(raw, "holder_tax_id", max_length=40),
        "holder_tax_id_type": _text(raw, "holder_tax_id_type", max_length=10),
        "start_date": _day(raw, "start_date"),
        "end_date": _day(raw, "end_date"),
        "premium_cents": _int(raw, "premium_cents"),
        "currency": _text(raw, "currency", max_length=3),
        "updated_on": _day(raw, "updated_on"),
        "as_of": parse_as_of(raw["as_of"]),
    }
    row["content_hash"] = content_hash(row, POLICY_FIELDS)
    rows = PolicyRows(policy=row)
    for raw_receipt in raw.get("receipts") or []:
        try:
            rows.receipts.append(receipt_row(raw_receipt, policy=row))
        except RecordError as exc:
            rows.bad_receipts.append((raw_receipt, str(exc)))
    return rows


def receipt_row(raw: dict[str, Any], *, policy: dict[str, Any]) -> dict[str, Any]:
    status = _text(raw, "status", required=True, max_length=20)
    if status not in RECEIPT_STATUSES:
        raise RecordError(f"status {status!r} is not one of {', '.join(sorted(RECEIPT_STATUSES))}")
    row: dict[str, Any] = {
        "tenant_id": policy["tenant_id"],
        "insurer": policy["insurer"],
        "receipt_number": _text(raw, "receipt_number", required=True, max_length=100),
        "policy_number": policy["policy_number"],
        "due_date": _day(raw, "due_date"),
        "amount_cents": _int(raw, "amount_cents", required=True),
        "currency": policy["currency"],
        "status": status,
        "status_changed_on": _day(raw, "status_changed_on"),
        "as_of": policy["as_of"],
    }
    row["content_hash"] = content_hash(row, RECEIPT_FIELDS)
    return row
