"""Requests the portal exports to the core system, and how their situation moves.

Intake is idempotent on the portal's request id. The situation is a pure function of the
sandbox clock: received, in analysis an hour later, decided a day later; about one in five is
rejected with a reason. ``updated_at`` is the time of the latest step reached, so the status
syncs can page it by (updated_at, id) like any other entity.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, bisect_right
from typing import Any

import msgspec

from sandbox.core_system.model import Record, iso
from sandbox.core_system.state import CoreRequest, Operator

KINDS = frozenset(
    {
        "card_copy",
        "beneficiary_registration_change",
        "beneficiary_address_change",
        "new_beneficiary",
        "new_family",
        "provider_registration_change",
        "provider_address_change",
    }
)
IN_ANALYSIS_AFTER = 3600
DECIDED_AFTER = 86_400
REJECTIONS = (
    "documentação incompleta",
    "dados divergentes do cadastro",
    "beneficiário com pendência financeira",
    "solicitação duplicada",
)


class RequestIn(msgspec.Struct, forbid_unknown_fields=False):
    id: str
    kind: str
    subject_id: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class RequestConflictError(Exception):
    pass


def receive(operator: Operator, incoming: RequestIn) -> tuple[CoreRequest, bool]:
    """Store a request once; returns it and whether it is new. Same id, other content → conflict."""
    if incoming.kind not in KINDS:
        raise ValueError(f"unknown request kind {incoming.kind!r}")
    if not incoming.id or len(incoming.id) > 120:
        raise ValueError("request id must be 1-120 characters")
    known = operator.requests.get(incoming.id)
    if known is not None:
        if (known.kind, known.subject_id, known.payload) != (incoming.kind, incoming.subject_id, incoming.payload):
            raise RequestConflictError(incoming.id)
        return known, False
    now = operator.now()
    protocol = f"{iso(now)[:4]}{len(operator.requests) + 1:08d}"
    request = CoreRequest(incoming.id, incoming.kind, incoming.subject_id, incoming.payload, protocol, now)
    operator.requests[incoming.id] = request
    return request, True


def situation(request: CoreRequest, now: int) -> Record:
    age = now - request.received_at
    reason = None
    if age >= DECIDED_AFTER:
        roll = zlib.crc32(request.id.encode())
        state, step = ("rejected", DECIDED_AFTER) if roll % 5 == 0 else ("approved", DECIDED_AFTER)
        reason = REJECTIONS[(roll >> 8) % len(REJECTIONS)] if state == "rejected" else None
    elif age >= IN_ANALYSIS_AFTER:
        state, step = "in_analysis", IN_ANALYSIS_AFTER
    else:
        state, step = "received", 0
    return {
        "id": request.id,
        "protocol": request.protocol,
        "kind": request.kind,
        "subject_id": request.subject_id,
        "situation": state,
        "reason": reason,
        "received_at": iso(request.received_at),
        "updated_at": iso(request.received_at + step),
        "_key": (request.received_at + step, request.id),
    }


def statuses(
    operator: Operator, since: int | None, kinds: set[str], after: tuple[int, str] | None, limit: int
) -> tuple[list[Record], tuple[int, str] | None]:
    """One page of request situations by (updated_at, id), plus the key to continue after."""
    now = operator.now()
    rows = sorted(
        (situation(r, now) for r in operator.requests.values() if not kinds or r.kind in kinds),
        key=lambda row: row["_key"],
    )
    keys = [row["_key"] for row in rows]
    start = 0 if since is None else bisect_left(keys, (since, ""))
    if after is not None:
        start = max(start, bisect_right(keys, after))
    page = rows[start : start + limit]
    more = start + limit < len(rows)
    last = page[-1]["_key"] if page and more else None
    for row in page:
        del row["_key"]
    return page, last
