"""Webhook intake: verify, validate, store durably, then answer — in that order.

No 2xx leaves before the event's row is committed. Concurrent deliveries are written in
group commits (one INSERT for many events, one commit), which is what lets one gateway
process take many deliveries per second without weakening "stored before 202".
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Union

import msgspec
import structlog
from asyncpg.pgproto import pgproto
from sqlalchemy import select, tuple_
from standardwebhooks import Webhook

from gateway.db import compressed
from gateway.errors import BadRequest, FieldError, NotFound, Unauthorized
from gateway.outages import is_outage
from gateway.runtime import Runtime
from gateway.webhooks import signing
from gateway.webhooks.events import EVENT_TYPES, RawEnvelope, accepts, source_family
from gateway.webhooks.models import WebhookEndpoint, WebhookEvent

log = structlog.get_logger("ponte.webhooks")

PROCESS_KIND = "webhook.process"
KEPT_HEADERS = ("content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature")
_AT_PATH = re.compile(r" - at `\$(.*)`$")


@dataclass
class Rejection:
    detail: str
    errors: list[FieldError]


@dataclass
class Outcome:
    event_id: uuid.UUID
    status: str
    duplicate: bool
    intake_status: int
    problem: dict[str, Any] | None = None


def _pointer(prefix: str, exc: msgspec.ValidationError) -> FieldError:
    message = str(exc)
    match = _AT_PATH.search(message)
    path = match.group(1) if match else ""
    pointer = prefix + "".join("/" + (n or i) for n, i in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path))
    return FieldError(pointer=pointer, detail=_AT_PATH.sub("", message))


def _accepted_envelopes(family: str) -> msgspec.json.Decoder[Any] | None:
    """One decoder for every envelope a source family may send, tagged on ``type``: a valid
    delivery is checked in one pass over the body (the envelope's fields as ``RawEnvelope``
    reads them, ``data`` straight into its schema). None when the family may send nothing."""
    envelopes = tuple(
        msgspec.defstruct(
            f"_{name.replace('.', '_')}_envelope",
            [("data", event_type.schema), ("timestamp", str | None, None)],
            tag_field="type",
            tag=name,
        )
        for name, event_type in EVENT_TYPES.items()
        if accepts(event_type, family)
    )
    if not envelopes:
        return None
    return msgspec.json.Decoder(Union[envelopes])  # type: ignore[return-value,valid-type]  # noqa: UP007


_ENVELOPES: dict[str, msgspec.json.Decoder[Any] | None] = {}


def validate_payload(body: bytes, source: str) -> tuple[str | None, Rejection | None]:
    """Parse the envelope and check the data against its type's schema.

    Not JSON at all → ``BadRequest`` (nothing stored). JSON that breaks the schema → a
    ``Rejection``: stored for audit and answered 422, never processed.
    """
    family = source_family(source)
    if family not in _ENVELOPES:
        _ENVELOPES[family] = _accepted_envelopes(family)
    if (envelopes := _ENVELOPES[family]) is not None:
        # The common case in one pass (a 29 KB body took 38 us in two, 24 in one). Whatever it
        # refuses, for any reason, is parsed again below, which says exactly what is wrong.
        try:
            return envelopes.decode(body).__struct_config__.tag, None
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    try:
        envelope = msgspec.json.decode(body, type=RawEnvelope)
    except msgspec.ValidationError as exc:
        return None, Rejection(
            "The body is not a Standard Webhooks envelope {type, timestamp, data}.", [_pointer("", exc)]
        )
    except msgspec.DecodeError as exc:
        raise BadRequest("The body is not valid JSON.") from exc
    event_type = EVENT_TYPES.get(envelope.type)
    if event_type is None or not accepts(event_type, source):
        allowed = [name for name, et in EVENT_TYPES.items() if accepts(et, source)]
        return envelope.type, Rejection(
            f"Event type '{envelope.type}' is not accepted from source '{source}'.",
            [FieldError(pointer="/type", detail=f"one of {allowed}")],
        )
    try:
        # Straight from bytes into the schema: no intermediate dicts on the hot path.
        msgspec.json.decode(envelope.data, type=event_type.schema)
    except msgspec.ValidationError as exc:
        return envelope.type, Rejection(
            f"The data does not match the '{envelope.type}' schema.", [_pointer("/data", exc)]
        )
    return envelope.type, None


# Fixed-shape statements over arrays: one prepared statement whatever the batch size, instead
# of compiling a new multi-row VALUES for every batch (which dominated the intake's CPU). It
# runs on the pooled asyncpg connection itself: SQLAlchemy's execute, result and autocommit
# checkout cost about 200 us per batch, as much as the statement's own round trip.
_INSERT_EVENTS = """
    WITH events AS (
        INSERT INTO webhook_events (id, tenant_id, endpoint_id, source, webhook_id, event_type, status, body,
                                    headers, intake_status, intake_problem, task_id, received_at)
        SELECT e.*, now() FROM unnest(
            $1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::bytea[], $9::jsonb[], $10::int[], $11::jsonb[], $12::uuid[]
        ) AS e
        ON CONFLICT (endpoint_id, webhook_id) DO NOTHING
        RETURNING id, tenant_id, task_id
    ), processing AS (
        -- One processing task per tenant and batch, created only if one of its events is new.
        INSERT INTO tasks (id, tenant_id, kind, subject_id, trigger, params, status, progress_done, counters,
                           result, attempt, max_attempts, dispatches, run_after, cancel_requested,
                           created_at, updated_at)
        SELECT t.id, t.tenant_id, 'webhook.process', NULL, 'webhook', t.params,
               'queued', 0, '{}', '{}', 0, 5, 0, now(), false, now(), now()
        FROM unnest($13::uuid[], $14::uuid[], $15::jsonb[]) AS t(id, tenant_id, params)
        WHERE EXISTS (SELECT 1 FROM events WHERE events.task_id = t.id)
    )
    SELECT id FROM events
"""


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` time-ordered (version 7, RFC 9562) UUIDs from one read of the random source.

    Time-ordered, so the inbox's primary key grows at its right edge instead of touching a
    random leaf per event (PostgreSQL's CPU per ingested event 28.7-30.0 -> 26.3-28.3 us).
    ``uuid.uuid4()`` read the random source once per id and checked its bytes in Python, about
    2.4 us an id here; these are asyncpg's own UUID (a ``uuid.UUID``, what it returns for
    every uuid column), built from bytes in C, so the batch's sets of ids hash in C as well.
    """
    raw = bytearray(os.urandom(16 * count))
    millis = time.time_ns() // 1_000_000
    for k, byte in enumerate(millis.to_bytes(6, "big")):
        raw[k::16] = bytes((byte,)) * count  # 48 bits of Unix milliseconds, then 74 random bits
    raw[6::16] = bytes(b & 0x0F | 0x70 for b in raw[6::16])  # version 7
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 9562 variant
    data = bytes(raw)
    return [pgproto.UUID(data[i : i + 16]) for i in range(0, len(data), 16)]


def _json(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _columns(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The events' columns, in the order of ``_INSERT_EVENTS``'s first twelve parameters."""
    return [
        [r["id"] for r in rows],
        [r["tenant_id"] for r in rows],
        [r["endpoint_id"] for r in rows],
        [r["source"] for r in rows],
        [r["webhook_id"] for r in rows],
        [r["event_type"] for r in rows],
        [r["status"] for r in rows],
        [compressed.compress(r["body"]) for r in rows],  # what CompressedBytes stores
        [_json(r["headers"]) for r in rows],
        [r["intake_status"] for r in rows],
        [_json(r["intake_problem"]) for r in rows],
        [r["task_id"] for r in rows],
    ]


@dataclass
class _CachedEndpoint:
    tenant_id: uuid.UUID
    source: str
    verifiers: list[Webhook]
    expires: float


@dataclass
class IntakeWriter:
    runtime: Runtime
    _pending: list[tuple[dict[str, Any], asyncio.Future[Outcome]]] = field(default_factory=list)
    _flushers: int = 0
    _pending_bytes: int = 0
    _endpoints: dict[uuid.UUID, _CachedEndpoint] = field(default_factory=dict)
    _loading: dict[uuid.UUID, asyncio.Future[_CachedEndpoint]] = field(default_factory=dict)

    MAX_BATCH = 500
    # One flush at a time, as a rule. A batch costs a statement, a durable commit and a Valkey
    # round trip whatever its size (about 0.3 ms of CPU here and as much in PostgreSQL), so the
    # largest batches cost least, and what arrives during a flush waits for the next one: a
    # second flush alongside cut small deliveries' events/s by a fifth (bench.webhook_ingest).
    # Heavy bodies are the exception. Storing 30 task-completed posts of 29 KB kept
    # PostgreSQL busy for about 8 ms (compressing them, writing WAL) while the next 30 waited
    # with a core idle, so once ``SECOND_FLUSH_BYTES`` of bodies wait, a second flush takes
    # them (bench.document_delivery's intake: 2,174-2,822 posts/s against 1,850-2,339, before
    # the bodies were compressed here, gateway/db/compressed.py).
    MAX_FLUSHERS = 2
    SECOND_FLUSH_BYTES = 256 * 1024

    async def endpoint(self, endpoint_id: uuid.UUID) -> _CachedEndpoint:
        cached = self._endpoints.get(endpoint_id)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        # One load per endpoint at a time: when the entry expires, the deliveries arriving
        # meanwhile (64 at once under load) wait for it instead of each loading it again.
        loading = self._loading.get(endpoint_id)
        if loading is None:
            loading = self._loading[endpoint_id] = asyncio.ensure_future(self._load(endpoint_id))
            loading.add_done_callback(lambda done: self._loaded(endpoint_id, done))
        return await asyncio.shield(loading)  # a caller that gives up leaves the load to the others

    def _loaded(self, endpoint_id: uuid.UUID, done: asyncio.Future[_CachedEndpoint]) -> None:
        self._loading.pop(endpoint_id, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: every caller may have given up meanwhile

    async def _load(self, endpoint_id: uuid.UUID) -> _CachedEndpoint:
        async with self.runtime.db.sessionmaker() as session:
            row = await session.get(WebhookEndpoint, endpoint_id)
        if row is None or not row.enabled:
            raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
        secrets = signing.active_secrets(self.runtime.cipher, row.secrets, now=signing.utcnow())
        ttl = self.runtime.settings.api_key_cache_seconds
        cached = _CachedEndpoint(row.tenant_id, row.source, signing.verifiers(secrets), time.monotonic() + ttl)
        self._endpoints[endpoint_id] = cached
        return cached

    def forget(self, endpoint_id: uuid.UUID) -> None:
        self._endpoints.pop(endpoint_id, None)

    async def receive(self, endpoint_id: uuid.UUID, body: bytes, headers: Any) -> Outcome:
        endpoint = await self.endpoint(endpoint_id)
        sig = signing.signature_headers(headers)
        try:
            signing.verify(
                body, sig, endpoint.verifiers, tolerance_seconds=self.runtime.settings.webhook_tolerance_seconds
            )
        except signing.SignatureError as exc:
            raise Unauthorized(f"Signature check failed: {exc}.") from exc
        event_type, rejection = validate_payload(body, endpoint.source)
        row: dict[str, Any] = {
            "id": None,  # drawn per flush, for the whole batch at once
            "tenant_id": endpoint.tenant_id,
            "endpoint_id": endpoint_id,
            "source": endpoint.source,
            "webhook_id": sig["webhook-id"][:255],
            "event_type": event_type,
            "body": body,
            "headers": {k: headers[k] for k in KEPT_HEADERS if headers.get(k)} | {"webhook-id": sig["webhook-id"]},
            "status": "rejected" if rejection else "received",
            "intake_status": 422 if rejection else 202,
            "intake_problem": (
                {"detail": rejection.detail, "errors": msgspec.to_builtins(rejection.errors)} if rejection else None
            ),
            "task_id": None,  # set per flush: one processing task per tenant and batch
        }
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        self._pending_bytes += len(body)
        if self._flushers == 0 or (self._flushers < self.MAX_FLUSHERS and self._heavy()):
            self._flushers += 1
            asyncio.create_task(self._flush())  # noqa: RUF006 - the futures hold the outcome
        return await future

    def _heavy(self) -> bool:
        return self._pending_bytes >= self.SECOND_FLUSH_BYTES

    def _next_batch(self) -> list[tuple[dict[str, Any], asyncio.Future[Outcome]]]:
        """What a running flusher writes next; empty when it stops, and then it is counted out at
        once (before any await), so the last flusher never leaves a delivery waiting."""
        if self._pending and (self._flushers == 1 or self._heavy()):
            batch, self._pending = self._pending[: self.MAX_BATCH], self._pending[self.MAX_BATCH :]
            self._pending_bytes -= sum(len(row["body"]) for row, _ in batch)
            return batch
        self._flushers -= 1
        return []

    async def _flush(self) -> None:
        batch = self._next_batch()
        while batch:
            try:
                # One connection for as long as deliveries keep coming: a checkout per batch
                # cost more CPU than the batch's statement.
                async with self.runtime.db.driver_connection() as conn:
                    while batch:
                        outcomes, jobs = await self._write(conn, [row for row, _ in batch])
                        # Enqueue before answering, so a 202 means "stored and queued"; if Valkey
                        # is down the events are still durable and the sweeper dispatches them.
                        await self._enqueue(jobs)
                        for (_, future), outcome in zip(batch, outcomes, strict=True):
                            if not future.done():
                                future.set_result(outcome)
                        batch = self._next_batch()
            except Exception as exc:
                # Nothing stored, so nothing acknowledged: each sender gets a 503 or 500.
                # (An outage also discards the connection: the next batch takes another.)
                level = log.warning if is_outage(exc) else log.error
                level("intake_write_failed", events=len(batch), error=repr(exc))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if batch:  # else the flusher was already counted out (returning its connection failed)
                    batch = self._next_batch()

    async def _write(self, conn: Any, rows: list[dict[str, Any]]) -> tuple[list[Outcome], list[tuple[Any, int, None]]]:
        for row, event_id in zip(rows, new_ids(len(rows)), strict=True):
            row["id"] = event_id
        # One row per (endpoint, webhook-id) in the batch; later twins become duplicates.
        first: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
        for row in rows:
            first.setdefault((row["endpoint_id"], row["webhook_id"]), row)
        unique = list(first.values())
        # Processing is grouped like storage: one task per tenant in this batch, listing its
        # events in arrival order. Far fewer rows and jobs than one task per event.
        members: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for row in unique:
            if row["status"] == "received":
                members.setdefault(row["tenant_id"], []).append(row)
        task_ids = new_ids(len(members))
        for task_id, tenant_rows in zip(task_ids, members.values(), strict=True):
            for row in tenant_rows:
                row["task_id"] = task_id
        params = [
            *_columns(unique),
            task_ids,
            list(members),
            [_json({"event_ids": [str(row["id"]) for row in tenant_rows]}) for tenant_rows in members.values()],
        ]
        # One statement stores the events and their processing tasks: atomic on its own, so it
        # runs without BEGIN/COMMIT round trips; it returns once the commit is durable.
        inserted = {record[0] for record in await conn.fetch(_INSERT_EVENTS, *params)}
        if len(inserted) == len(rows):  # the common case: every event new, every task created
            outcomes = [Outcome(r["id"], r["status"], False, r["intake_status"], r["intake_problem"]) for r in rows]
            return outcomes, [(task_id, 0, None) for task_id in task_ids]
        fresh_tasks = {r["task_id"] for r in unique if r["id"] in inserted and r["task_id"] is not None}
        keys = [(r["endpoint_id"], r["webhook_id"]) for r in rows if r["id"] not in inserted]
        existing: dict[tuple[uuid.UUID, str], WebhookEvent] = {}
        if keys:  # redeliveries: answer with what the first delivery got
            async with self.runtime.db.sessionmaker() as session:
                stmt = select(WebhookEvent).where(tuple_(WebhookEvent.endpoint_id, WebhookEvent.webhook_id).in_(keys))
                existing = {(e.endpoint_id, e.webhook_id): e for e in (await session.scalars(stmt)).all()}
        outcomes = []
        for row in rows:
            if row["id"] in inserted:
                outcomes.append(Outcome(row["id"], row["status"], False, row["intake_status"], row["intake_problem"]))
            else:
                e = existing[(row["endpoint_id"], row["webhook_id"])]
                outcomes.append(Outcome(e.id, e.status, True, e.intake_status, e.intake_problem))
        return outcomes, [(task_id, 0, None) for task_id in fresh_tasks]

    async def _enqueue(self, jobs: list[tuple[Any, int, None]]) -> None:
        try:
            await self.runtime.queue.dispatch_many(jobs)
        except Exception as exc:
            log.warning("intake_enqueue_failed", events=len(jobs), error=repr(exc))
