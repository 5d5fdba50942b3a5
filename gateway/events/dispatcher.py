"""The event dispatcher: claims due deliveries from PostgreSQL, sends them, records the outcome.

Every worker process runs one. PostgreSQL is the only truth: a claim is one UPDATE that marks
deliveries ``sending`` under a lease and returns what to send, so two dispatchers never send
the same attempt, and a dispatcher that dies (SIGKILL) leaves leases that lapse and rows that
go back to ``pending``. Valkey is not involved at all, so a FLUSHALL cannot lose a delivery.
Commits wake dispatchers through ``NOTIFY`` (sent only at commit); a poll covers a lost
listener connection and retries coming due.

One slow or dead endpoint never delays the others: each endpoint has its own cap of attempts
in flight (a claim takes at most the free slots of each endpoint), and a circuit breaker holds
off an endpoint that keeps failing, letting one probe through after the cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog
from sqlalchemy import text

from gateway.db.base import utcnow
from gateway.egress import EgressRefused
from gateway.events import recording
from gateway.events.outbox import NOTIFY_CHANNEL
from gateway.events.recording import AttemptResult, Claimed
from gateway.events.signing import SignerCache, headers_for
from gateway.events.transport import EndpointClients
from gateway.runtime import Runtime

log = structlog.get_logger("ponte.events")

BODY_KEPT = 1024  # bytes of each response kept in the attempt log
BODY_READ = 65_536  # read at most this much of a response (the rest is dropped with the connection)
FLUSH_EVERY = 0.02  # seconds: attempts finishing meanwhile are written in one transaction
CLAIM_GAP = 0.01  # seconds between claims while busy: completions gather into one claim

_CLAIM = text(
    """
    WITH due AS (
        SELECT d.id FROM event_endpoints ep
        CROSS JOIN LATERAL (
            SELECT dd.id FROM event_deliveries dd
            WHERE dd.endpoint_id = ep.id AND dd.status = 'pending' AND dd.next_attempt_at <= now()
            ORDER BY dd.next_attempt_at
            LIMIT coalesce((SELECT c.free FROM unnest(CAST(:cap_ids AS uuid[]), CAST(:cap_free AS int[]))
                            AS c(id, free) WHERE c.id = ep.id), :default_cap)
            FOR UPDATE SKIP LOCKED
        ) d
        WHERE ep.enabled
        LIMIT :total
    )
    UPDATE event_deliveries d SET status = 'sending', attempts = d.attempts + 1,
        lease_expires_at = now() + make_interval(secs => :lease)
    FROM due, events e, event_endpoints ep
    WHERE d.id = due.id AND e.id = d.event_id AND ep.id = d.endpoint_id
    RETURNING d.id, d.event_id, d.endpoint_id, d.tenant_id, d.attempts, e.body, ep.url, ep.secrets, ep.updated_at
    """
)

_RECOVER = text(
    """
    UPDATE event_deliveries SET status = 'pending', lease_expires_at = NULL
    WHERE status = 'sending' AND lease_expires_at < now()
    """
)


@dataclass
class Breaker:
    """Per endpoint and process: open after ``threshold`` failures in a row, for ``cooldown``
    seconds; then half-open (one attempt at a time) until a success closes it."""

    threshold: int
    cooldown: float
    failures: int = 0
    open_until: float = 0.0

    def slots(self, cap: int, now: float) -> int:
        if self.open_until > now:
            return 0
        return 1 if self.failures >= self.threshold else cap

    def record(self, ok: bool, now: float) -> None:
        if ok:
            self.failures, self.open_until = 0, 0.0
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + self.cooldown


def listen_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Dispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        s = runtime.settings
        self.schedule = s.event_schedule
        self.cap = s.event_endpoint_concurrency
        self.max_in_flight = s.event_max_in_flight
        # A lease shorter than an attempt would hand a live attempt to another dispatcher (or
        # to this one's own recovery): a duplicate for nothing.
        self.lease = max(s.event_lease_seconds, 2 * s.event_attempt_timeout_seconds + 5)
        self.clients = EndpointClients(runtime.egress, s)
        self.signers = SignerCache(runtime.cipher)
        self.in_flight: dict[uuid.UUID, int] = defaultdict(int)
        self.breakers: dict[uuid.UUID, Breaker] = {}
        self.results: list[AttemptResult] = []
        self.wake = asyncio.Event()
        self._results_ready = asyncio.Event()
        self._backlog = False
        self._sends: set[asyncio.Task[None]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._stopping = False
        self._next_recover = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Dispatcher:
        self._background = [
            asyncio.create_task(self._loop(), name="events-dispatch"),
            asyncio.create_task(self._flush_loop(), name="events-record"),
            asyncio.create_task(self._listen(), name="events-listen"),
        ]
        return self

    async def stop(self, timeout: float = 20.0) -> None:
        """Stop claiming, let attempts in flight finish (up to ``timeout``), record them."""
        self._stopping = True
        self.wake.set()
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=timeout)
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()
        await self.clients.aclose()

    # -- claiming ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        poll = self.runtime.settings.event_poll_seconds
        while not self._stopping:
            try:
                await self.cycle()
            except Exception as exc:  # the database may be restarting: try again next tick
                log.warning("events_claim_failed", error=repr(exc))
                await asyncio.sleep(min(poll, 1.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=poll)
            self.wake.clear()
            await asyncio.sleep(CLAIM_GAP)

    async def cycle(self) -> int:
        """Recover lapsed leases (now and then), claim what the free slots allow, start sending."""
        now = time.monotonic()
        if now >= self._next_recover:
            self._next_recover = now + max(self.lease / 4, 0.5)
            async with self.runtime.db.autocommit() as conn:
                recovered = (await conn.execute(_RECOVER)).rowcount
            if recovered:
                log.info("events_leases_recovered", deliveries=recovered)
            await self.clients.prune(busy=self.in_flight)
        total = self.max_in_flight - len(self._sends)
        if total <= 0:
            self._backlog = True
            return 0
        caps = {
            endpoint: max(breaker.slots(self.cap, now) - self.in_flight[endpoint], 0)
            for endpoint, breaker in self.breakers.items()
        }
        for endpoint, n in self.in_flight.items():
            caps.setdefault(endpoint, max(self.cap - n, 0))
        params = {
            "cap_ids": list(caps),
            "cap_free": list(caps.values()),
            "default_cap": self.cap,
            "total": total,
            "lease": self.lease,
        }
        async with self.runtime.db.autocommit() as conn:
            rows = (await conn.execute(_CLAIM, params)).all()
        claimed_per: dict[uuid.UUID, int] = defaultdict(int)
        for row in rows:
            claimed_per[row.endpoint_id] += 1
            self._start(row)
        self._backlog = len(rows) >= total or any(n >= caps.get(e, self.cap) for e, n in claimed_per.items())
        return len(rows)

    def _start(self, row: Any) -> None:
        claimed = Claimed(row.id, row.event_id, row.endpoint_id, row.tenant_id, row.attempts, bytes(row.body), row.url)
        try:
            signers = self.signers.signers(row.endpoint_id, row.updated_at, row.secrets)
        except Exception as exc:  # an undecryptable secret (key rotated away): a failed attempt
            signers = None
            log.warning("events_signing_failed", endpoint_id=str(row.endpoint_id), error=repr(exc))
        self.in_flight[row.endpoint_id] += 1
        task = asyncio.create_task(self._send(claimed, signers))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, c: Claimed, signers: list[Any] | None) -> None:
        at = utcnow()
        started = time.perf_counter()
        code: int | None = None
        body: str | None = None
        error: str | None = None
        final = False
        try:
            if not signers:
                raise RuntimeError("no active signing secret")
            headers = headers_for(c.event_id, c.body, signers, at)
            client = self.clients.get(c.endpoint_id)
            async with client.stream("POST", c.url, content=c.body, headers=headers) as response:
                code = response.status_code
                body = await _read_some(response)
        except EgressRefused as exc:  # the name now resolves somewhere Ponte may not call
            error, final = f"egress_refused: {exc.detail}"[:500], True
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:
            error = f"internal: {type(exc).__name__}"
            log.warning("events_send_failed", endpoint_id=str(c.endpoint_id), error=repr(exc))
        result = AttemptResult(c, at, code, int((time.perf_counter() - started) * 1000), body, error, final)
        self.in_flight[c.endpoint_id] -= 1
        if not self.in_flight[c.endpoint_id]:
            del self.in_flight[c.endpoint_id]
        breaker = self.breakers.get(c.endpoint_id)
        if breaker is None and not result.ok:
            s = self.runtime.settings
            breaker = self.breakers[c.endpoint_id] = Breaker(s.event_breaker_failures, s.event_breaker_cooldown_seconds)
        if breaker is not None:
            breaker.record(result.ok, time.monotonic())
            if result.ok:
                del self.breakers[c.endpoint_id]
        self.results.append(result)
        self._results_ready.set()
        if self._backlog:
            self.wake.set()

    # -- recording ---------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(FLUSH_EVERY)
            self._results_ready.clear()
            try:
                await self._flush()
            except Exception as exc:  # kept for the next flush; leases cover a crash meanwhile
                log.warning("events_record_failed", error=repr(exc))
                self._results_ready.set()
                await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        batch, self.results = self.results, []
        if not batch:
            return
        s = self.runtime.settings
        try:
            async with self.runtime.db.engine.begin() as conn:
                await recording.record(conn, batch, self.schedule, s.event_disable_after_seconds)
        except BaseException:
            self.results[:0] = batch
            raise
        # Retries that just came due, and rows freed by a success, may be claimable now.
        self.wake.set()

    # -- wake-ups ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        dsn = listen_dsn(self.runtime.settings.database_url)

        def notified(*_: object) -> None:
            self.wake.set()

        while True:
            conn = None
            try:
                conn = await asyncpg.connect(dsn)
                await conn.add_listener(NOTIFY_CHANNEL, notified)
                self.wake.set()  # whatever committed while nobody listened
                while not conn.is_closed():
                    await asyncio.sleep(2.0)
                    await conn.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("events_listener_reconnecting", error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)


async def _read_some(response: httpx.Response) -> str:
    """Up to ``BODY_KEPT`` bytes of the answer, as text; the receiver's body is theirs, not ours."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_READ:
            break
    return b"".join(chunks)[:BODY_KEPT].decode("utf-8", "replace")
