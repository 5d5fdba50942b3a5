"""Webhook intake: verify, validate, store durably, then answer — in that order.

No 2xx leaves before the event's row is committed. Concurrent deliveries are written in
group commits (one INSERT for many events, one commit), which is what lets one gateway
process take many deliveries per second without weakening "stored before 202".
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert

from gateway.errors import BadRequest, FieldError, NotFound, Unauthorized
from gateway.runtime import Runtime
from gateway.tasks.models import Task, TaskStatus
from gateway.webhooks import signing
from gateway.webhooks.events import EVENT_TYPES, Envelope, accepts
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


def validate_payload(body: bytes, source: str) -> tuple[str | None, Rejection | None]:
    """Parse the envelope and check the data against its type's schema.

    Not JSON at all → ``BadRequest`` (nothing stored). JSON that breaks the schema → a
    ``Rejection``: stored for audit and answered 422, never processed.
    """
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest("The body is not valid JSON.") from exc
    try:
        envelope = msgspec.convert(raw, Envelope)
    except msgspec.ValidationError as exc:
        return None, Rejection("The body is not a Standard Webhooks envelope {type, timestamp, data}.", [_pointer("", exc)])
    event_type = EVENT_TYPES.get(envelope.type)
    if event_type is None or not accepts(event_type, source):
        allowed = [name for name, et in EVENT_TYPES.items() if accepts(et, source)]
        return envelope.type, Rejection(
            f"Event type '{envelope.type}' is not accepted from source '{source}'.",
            [FieldError(pointer="/type", detail=f"one of {allowed}")],
        )
    try:
        msgspec.convert(envelope.data, event_type.schema)
    except msgspec.ValidationError as exc:
        return envelope.type, Rejection(f"The data does not match the '{envelope.type}' schema.", [_pointer("/data", exc)])
    return envelope.type, None


@dataclass
class _CachedEndpoint:
    tenant_id: uuid.UUID
    source: str
    secrets: list[str]
    expires: float


@dataclass
class IntakeWriter:
    runtime: Runtime
    _pending: list[tuple[dict[str, Any], asyncio.Future[Outcome]]] = field(default_factory=list)
    _flushers: int = 0
    _endpoints: dict[uuid.UUID, _CachedEndpoint] = field(default_factory=dict)

    MAX_BATCH = 500
    MAX_FLUSHERS = 2

    async def endpoint(self, endpoint_id: uuid.UUID) -> _CachedEndpoint:
        cached = self._endpoints.get(endpoint_id)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        async with self.runtime.db.sessionmaker() as session:
            row = await session.get(WebhookEndpoint, endpoint_id)
        if row is None or not row.enabled:
            raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
        secrets = signing.active_secrets(self.runtime.cipher, row.secrets, now=signing.utcnow())
        ttl = self.runtime.settings.api_key_cache_seconds
        cached = _CachedEndpoint(row.tenant_id, row.source, secrets, time.monotonic() + ttl)
        self._endpoints[endpoint_id] = cached
        return cached

    def forget(self, endpoint_id: uuid.UUID) -> None:
        self._endpoints.pop(endpoint_id, None)

    async def receive(self, endpoint_id: uuid.UUID, body: bytes, headers: Any) -> Outcome:
        endpoint = await self.endpoint(endpoint_id)
        sig = signing.signature_headers(headers)
        try:
            signing.verify(body, sig, endpoint.secrets, tolerance_seconds=self.runtime.settings.webhook_tolerance_seconds)
        except signing.SignatureError as exc:
            raise Unauthorized(f"Signature check failed: {exc}.") from exc
        event_type, rejection = validate_payload(body, endpoint.source)
        row: dict[str, Any] = {
            "id": uuid.uuid4(),
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
            "task_id": None if rejection else uuid.uuid4(),
        }
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flushers < self.MAX_FLUSHERS:
            self._flushers += 1
            asyncio.create_task(self._flush())  # noqa: RUF006 - the futures hold the outcome
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.MAX_BATCH], self._pending[self.MAX_BATCH :]
                try:
                    outcomes = await self._write([row for row, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure (a 500, nothing acknowledged)
                    log.error("intake_write_failed", events=len(batch), error=repr(exc))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (row, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._flushers -= 1

    async def _write(self, rows: list[dict[str, Any]]) -> list[Outcome]:
        # One row per (endpoint, webhook-id) in the batch; later twins become duplicates.
        first: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
        for row in rows:
            first.setdefault((row["endpoint_id"], row["webhook_id"]), row)
        unique = list(first.values())
        async with self.runtime.db.sessionmaker() as session:
            inserted = set(
                (
                    await session.execute(
                        insert(WebhookEvent).values(unique).on_conflict_do_nothing().returning(WebhookEvent.id)
                    )
                ).scalars()
            )
            fresh = [r for r in unique if r["id"] in inserted and r["task_id"] is not None]
            if fresh:
                await session.execute(
                    insert(Task).values(
                        [
                            {
                                "id": r["task_id"], "tenant_id": r["tenant_id"], "kind": PROCESS_KIND,
                                "subject_id": str(r["id"]), "trigger": "webhook", "params": {"event_id": str(r["id"])},
                                "status": TaskStatus.queued, "dedup_key": str(r["id"]), "counters": {}, "result": {},
                            }
                            for r in fresh
                        ]
                    )
                )
            keys = [(r["endpoint_id"], r["webhook_id"]) for r in rows if r["id"] not in inserted]
            existing: dict[tuple[uuid.UUID, str], WebhookEvent] = {}
            if keys:
                stmt = select(WebhookEvent).where(tuple_(WebhookEvent.endpoint_id, WebhookEvent.webhook_id).in_(keys))
                existing = {(e.endpoint_id, e.webhook_id): e for e in (await session.scalars(stmt)).all()}
            await session.commit()
        await self._enqueue([(r["task_id"], 0, None) for r in fresh])
        outcomes = []
        for row in rows:
            if row["id"] in inserted:
                outcomes.append(Outcome(row["id"], row["status"], False, row["intake_status"], row["intake_problem"]))
            else:
                e = existing[(row["endpoint_id"], row["webhook_id"])]
                outcomes.append(Outcome(e.id, e.status, True, e.intake_status, e.intake_problem))
        return outcomes

    async def _enqueue(self, jobs: list[tuple[Any, int, None]]) -> None:
        try:
            await self.runtime.queue.dispatch_many(jobs)
        except Exception as exc:  # noqa: BLE001 - stored and committed: the sweeper dispatches it
            log.warning("intake_enqueue_failed", events=len(jobs), error=repr(exc))
