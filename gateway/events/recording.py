"""Writing what delivery attempts did: one transaction per batch of attempts.

Each batch inserts the attempts, moves each delivery on (succeeded, pending with its next
attempt time from the retry schedule, or failed when the schedule is spent), keeps each
endpoint's ``failing_since``, and disables endpoints that failed for too long or answered 410,
emitting ``endpoint.disabled`` in the same transaction. Delivery updates are fenced on the
attempt number: a worker whose lease lapsed cannot overwrite a newer attempt's outcome.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.events.catalogue import EndpointDisabled
from gateway.events.outbox import emit

GONE = 410


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    endpoint_id: uuid.UUID
    tenant_id: uuid.UUID
    attempt: int
    body: bytes
    url: str


@dataclass(frozen=True)
class AttemptResult:
    claimed: Claimed
    at: datetime
    status_code: int | None
    duration_ms: int
    response_body: str | None
    error: str | None
    final: bool = False  # no retry helps (the egress guard refused the destination)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_attempt(attempt: int, at: datetime, schedule: list[float]) -> datetime | None:
    """When attempt ``attempt + 1`` is due after attempt ``attempt`` failed; None when spent.

    ``schedule[n]`` is the wait before attempt ``n + 1`` (``schedule[0]`` is the first, usually
    0). Jitter of ±20% keeps retries from an outage from arriving all at once.
    """
    if attempt >= len(schedule):
        return None
    return at + timedelta(seconds=schedule[attempt] * random.uniform(0.8, 1.2))


_INSERT_ATTEMPTS = text(
    """
    INSERT INTO event_attempts (id, tenant_id, delivery_id, event_id, endpoint_id, attempt, attempted_at,
                                succeeded, status_code, duration_ms, response_body, error)
    SELECT gen_random_uuid(), * FROM unnest(
        CAST(:tenant AS uuid[]), CAST(:delivery AS uuid[]), CAST(:event AS uuid[]), CAST(:endpoint AS uuid[]),
        CAST(:attempt AS int[]), CAST(:at AS timestamptz[]), CAST(:ok AS bool[]), CAST(:code AS int[]),
        CAST(:ms AS int[]), CAST(:body AS text[]), CAST(:error AS text[]))
    """
)

_UPDATE_DELIVERIES = text(
    """
    UPDATE event_deliveries d SET status = v.status, next_attempt_at = coalesce(v.next_at, d.next_attempt_at),
        lease_expires_at = NULL, last_attempt_at = v.at, last_status_code = v.code, last_error = v.error,
        succeeded_at = CASE WHEN v.status = 'succeeded' THEN v.at END
    FROM unnest(CAST(:id AS uuid[]), CAST(:attempt AS int[]), CAST(:status AS text[]),
                CAST(:next_at AS timestamptz[]), CAST(:at AS timestamptz[]), CAST(:code AS int[]),
                CAST(:error AS text[])) AS v(id, attempt, status, next_at, at, code, error)
    WHERE d.id = v.id AND d.attempts = v.attempt AND d.status = 'sending'
    """
)

# failing_since: cleared by a success, started by the first failure after it.
_UPDATE_ENDPOINTS = text(
    """
    UPDATE event_endpoints ep SET last_success_at = coalesce(v.ok_at, ep.last_success_at),
        failing_since = CASE WHEN v.fail_at IS NULL THEN NULL
                             WHEN v.ok_at IS NOT NULL THEN v.fail_at
                             ELSE coalesce(ep.failing_since, v.fail_at) END
    FROM unnest(CAST(:id AS uuid[]), CAST(:ok_at AS timestamptz[]), CAST(:fail_at AS timestamptz[]))
        AS v(id, ok_at, fail_at)
    WHERE ep.id = v.id
    """
)

_DISABLE = text(
    """
    UPDATE event_endpoints SET enabled = false, updated_at = now(),
        disabled_reason = CASE WHEN id = ANY(CAST(:gone AS uuid[])) THEN 'gone' ELSE 'failing' END
    WHERE enabled AND (id = ANY(CAST(:gone AS uuid[]))
        OR (id = ANY(CAST(:failing AS uuid[])) AND failing_since <= now() - make_interval(secs => :after)))
    RETURNING id, tenant_id, url, disabled_reason, failing_since
    """
)


def _endpoint_marks(batch: list[AttemptResult]) -> dict[uuid.UUID, tuple[datetime | None, datetime | None]]:
    """Per endpoint: the last success in the batch, and the first failure after it."""
    marks: dict[uuid.UUID, tuple[datetime | None, datetime | None]] = {}
    for r in sorted(batch, key=lambda r: r.at):
        ok_at, fail_at = marks.get(r.claimed.endpoint_id, (None, None))
        marks[r.claimed.endpoint_id] = (r.at, None) if r.ok else (ok_at, fail_at or r.at)
    return marks


async def record(
    conn: AsyncConnection, batch: list[AttemptResult], schedule: list[float], disable_after: float
) -> None:
    """Write ``batch`` in ``conn``'s transaction (the caller commits)."""
    if not batch:
        return
    await conn.execute(
        _INSERT_ATTEMPTS,
        {
            "tenant": [r.claimed.tenant_id for r in batch],
            "delivery": [r.claimed.delivery_id for r in batch],
            "event": [r.claimed.event_id for r in batch],
            "endpoint": [r.claimed.endpoint_id for r in batch],
            "attempt": [r.claimed.attempt for r in batch],
            "at": [r.at for r in batch],
            "ok": [r.ok for r in batch],
            "code": [r.status_code for r in batch],
            "ms": [r.duration_ms for r in batch],
            "body": [r.response_body for r in batch],
            "error": [r.error for r in batch],
        },
    )
    statuses: list[str] = []
    next_ats: list[datetime | None] = []
    for r in batch:
        due = None if r.ok or r.final or r.status_code == GONE else next_attempt(r.claimed.attempt, r.at, schedule)
        statuses.append("succeeded" if r.ok else "pending" if due else "failed")
        next_ats.append(due)
    ordered = sorted(range(len(batch)), key=lambda i: batch[i].claimed.delivery_id)
    await conn.execute(
        _UPDATE_DELIVERIES,
        {
            "id": [batch[i].claimed.delivery_id for i in ordered],
            "attempt": [batch[i].claimed.attempt for i in ordered],
            "status": [statuses[i] for i in ordered],
            "next_at": [next_ats[i] for i in ordered],
            "at": [batch[i].at for i in ordered],
            "code": [batch[i].status_code for i in ordered],
            "error": [batch[i].error for i in ordered],
        },
    )
    marks = _endpoint_marks(batch)
    ids = sorted(marks)  # one lock order for every writer: no deadlocks between workers
    await conn.execute(
        _UPDATE_ENDPOINTS,
        {"id": ids, "ok_at": [marks[i][0] for i in ids], "fail_at": [marks[i][1] for i in ids]},
    )
    gone = sorted({r.claimed.endpoint_id for r in batch if r.status_code == GONE})
    failing = [i for i in ids if marks[i][1] is not None]
    if gone or failing:
        disabled = (await conn.execute(_DISABLE, {"gone": gone, "failing": failing, "after": disable_after})).all()
        for row in disabled:
            data = EndpointDisabled(
                endpoint_id=row.id, url=row.url, reason=row.disabled_reason, failing_since=row.failing_since
            )
            await emit(conn, row.tenant_id, "endpoint.disabled", data)
