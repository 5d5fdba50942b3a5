"""``emit``: write an event in the caller's transaction, fanned out to the endpoints that want it.

The outbox guarantee comes from doing it all in one statement on the caller's session or
connection: if the change that causes the event rolls back, the event and its deliveries do not
exist; if it commits, they do, and the dispatcher delivers them whatever happens to Valkey or
to a worker. ``pg_notify`` in the same statement wakes the dispatchers at commit (PostgreSQL
sends notifications only when the transaction commits, and folds duplicates into one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.db.base import utcnow
from gateway.events.catalogue import EVENT_TYPES

NOTIFY_CHANNEL = "ponte_events"


class Envelope(msgspec.Struct, kw_only=True):
    """What every delivery's body is: the Standard Webhooks envelope plus id, version and tenant."""

    id: uuid.UUID
    type: str
    version: int
    timestamp: datetime
    tenant_id: uuid.UUID
    data: Any


def _emit_statement(insert_events: str, endpoint_filter: str, before: str = "") -> TextClause:
    """Insert events (``insert_events``, without its RETURNING), fan each out to the tenant's
    enabled endpoints that ``endpoint_filter`` keeps (``ev`` is the event, ``ep`` the endpoint),
    and wake the dispatchers once per delivery row, all in one statement (after the CTEs
    ``before``, if any)."""
    return text(
        f"""
        WITH {before}ev AS (
            {insert_events}
            RETURNING id, tenant_id, type
        ), fan AS (
            INSERT INTO event_deliveries
                (id, tenant_id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at)
            SELECT gen_random_uuid(), ev.tenant_id, ev.id, ep.id, 'pending', 0, now(), now()
            FROM ev JOIN event_endpoints ep ON ep.tenant_id = ev.tenant_id AND ep.enabled AND {endpoint_filter}
            RETURNING 1
        )
        SELECT count(*) AS fanned, count(pg_notify('{NOTIFY_CHANNEL}', '')) AS notified FROM fan
        """
    )


_SUBSCRIBED = "(cardinality(ep.event_types) = 0 OR ev.type = ANY(ep.event_types))"

_EMIT = _emit_statement(
    """INSERT INTO events (id, tenant_id, type, version, body, created_at)
            VALUES (:id, :tenant_id, :type, :version, :body, now())""",
    # ``only``: a test ping goes to that one endpoint, whatever it subscribed to.
    f"CASE WHEN CAST(:only AS uuid) IS NULL THEN {_SUBSCRIBED} ELSE ep.id = CAST(:only AS uuid) END",
)


def _insert_many(subjects: str = "") -> str:
    """Insert the events ``emit_many_params`` describes, over arrays: one statement text
    whatever their number. ``subjects``, if given, is a condition on ``e.subject`` (the id of
    the row each event reports, ``:subjects``) that keeps only some of them."""
    arrays = "CAST(:ids AS uuid[]), CAST(:tenants AS uuid[]), CAST(:types AS text[]), "
    arrays += "CAST(:versions AS smallint[]), CAST(:bodies AS bytea[])"
    columns, where = "id, tenant_id, type, version, body", ""
    if subjects:
        arrays, columns, where = arrays + ", CAST(:subjects AS uuid[])", columns + ", subject", f" WHERE {subjects}"
    return f"""INSERT INTO events (id, tenant_id, type, version, body, created_at)
            SELECT e.id, e.tenant_id, e.type, e.version, e.body, now()
            FROM unnest({arrays}) AS e({columns}){where}"""


# ``_EMIT`` for many events at once (no test-ping target): one statement whatever their number.
_EMIT_MANY = _emit_statement(_insert_many(), _SUBSCRIBED)


def emit_many_after(change: str) -> TextClause:
    """One statement that makes a change and writes the events it causes, atomic on its own.

    ``change`` is a data-modifying statement returning the ``id`` of each row it changed; the
    statement takes ``emit_many_params`` for the events, each with the id of the row it
    reports (``subjects``), and writes only the events of rows ``change`` returned. The change's
    own parameters must not be named ``ids``, ``tenants``, ``types``, ``versions``, ``bodies``
    or ``subjects``.
    """
    return _emit_statement(
        _insert_many(subjects="e.subject IN (SELECT id FROM changed)"), _SUBSCRIBED, before=f"changed AS ({change}), "
    )


WAKE = text("SELECT pg_notify('" + NOTIFY_CHANNEL + "', '')")


def envelope_bytes(event_id: uuid.UUID, tenant_id: uuid.UUID, event_type: str, data: msgspec.Struct) -> bytes:
    spec = EVENT_TYPES[event_type]
    if not isinstance(data, spec.data):
        raise TypeError(f"{event_type} carries {spec.data.__name__}, not {type(data).__name__}")
    envelope = Envelope(
        id=event_id, type=event_type, version=spec.version, timestamp=utcnow(), tenant_id=tenant_id, data=data
    )
    return msgspec.json.encode(envelope)


async def emit(
    db: AsyncSession | AsyncConnection,
    tenant_id: uuid.UUID,
    event_type: str,
    data: msgspec.Struct,
    *,
    endpoint_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write ``event_type`` with ``data`` for ``tenant_id`` in ``db``'s transaction; returns its id.

    Every enabled endpoint of the tenant whose filter takes the type gets a delivery (only
    ``endpoint_id`` when given: a test ping). Call it where the state change is written, never
    after the commit: that is what makes "no change, no event" and "change, then event" hold.
    """
    event_id = uuid.uuid4()
    body = envelope_bytes(event_id, tenant_id, event_type, data)
    params: dict[str, Any] = {
        "id": event_id,
        "tenant_id": tenant_id,
        "type": event_type,
        "version": EVENT_TYPES[event_type].version,
        "body": body,
        "only": endpoint_id,
    }
    await db.execute(_EMIT, params)
    return event_id


async def emit_many(
    db: AsyncSession | AsyncConnection, events: Sequence[tuple[uuid.UUID, str, msgspec.Struct]]
) -> list[uuid.UUID]:
    """``emit`` for each ``(tenant_id, event_type, data)``, in one statement; returns their ids.

    The same guarantee as ``emit``: the events exist if and only if ``db``'s transaction commits.
    """
    if not events:
        return []
    params = emit_many_params(events)
    await db.execute(_EMIT_MANY, params)
    return list(params["ids"])


def emit_many_params(events: Sequence[tuple[uuid.UUID, str, msgspec.Struct]]) -> dict[str, list[Any]]:
    """The parameters that write ``events`` (``(tenant_id, event_type, data)``) in one statement."""
    ids = [uuid.uuid4() for _ in events]
    return {
        "ids": ids,
        "tenants": [tenant_id for tenant_id, _, _ in events],
        "types": [event_type for _, event_type, _ in events],
        "versions": [EVENT_TYPES[event_type].version for _, event_type, _ in events],
        "bodies": [envelope_bytes(i, t, et, data) for i, (t, et, data) in zip(ids, events, strict=True)],
    }
