"""Per-tenant rate limits, counted in Valkey so every gateway process draws on one budget.

Three budgets, each ``PONTE_RATE_LIMIT_<NAME>`` requests per ``PONTE_RATE_LIMIT_WINDOW_SECONDS``:

- ``reads``: GET and HEAD with a tenant key, per tenant;
- ``writes``: the other methods with a tenant key (work-creating POSTs, PUT, PATCH, DELETE), per tenant;
- ``intake``: webhook deliveries, per endpoint (counted before the signature is checked, so a
  flood is turned away before it costs an HMAC).

A window opens with a subject's first request and lasts the window length. The check is one
Lua call (INCRBY, PEXPIRE on the first hit, PTTL), atomic across processes. The checks a
process makes while a round trip is in flight go together in the next one, one call per
subject, and a process takes a hundredth of a large budget at once and counts it out locally:
a busy gateway pays a round trip per batch or per reserve, not per request (``Counter``).

Over the budget the answer is 429 with a problem body, ``Retry-After`` (seconds until the
window closes) and ``RateLimit-Limit``/``RateLimit-Remaining``/``RateLimit-Reset``. Operator
calls and public paths (health, metrics, docs) are not limited; a limit of 0 turns its budget
off. If Valkey cannot be reached the request passes: the limits protect capacity, and
/health/ready already reports the queue down.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send
from redis.exceptions import RedisError

from gateway.contract import OperationInfo, add_problem_rule
from gateway.errors import PonteError
from gateway.settings import Settings

log = structlog.get_logger("ponte.ratelimit")

INTAKE_PATH = re.compile(r"^/v1/webhooks/([^/]+)$")
READ_METHODS = frozenset({"GET", "HEAD"})
KEY_PREFIX = "ponte:rl"

# KEYS[1] the counter, ARGV[1] the window in ms, ARGV[2] hits -> {count after them, ms left}.
_SCRIPT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


@dataclass
class _Reserved:
    """Counts this process took from Valkey ahead of use, for one key and window."""

    next: int
    last: int
    ends: float  # time.monotonic() when the window closes


class Counter:
    """Counts hits in Valkey, many per round trip and one command per key, with a reserve.

    Each ``hit`` joins a batch; one flush at a time sends the batch as a pipeline and hands
    each caller its answer, and what arrived meanwhile is the next batch. The hits on one key
    in a batch are one ``INCRBY``: its callers get the counts below the new total, in arrival
    order, so each hit has a count of its own, unique across processes. At low load a batch is
    one request and nothing waits; under load, redis-py's per-command cost (packing, a write, a
    read: about 60 µs of CPU, near a tenth of a cheap request) is paid once per tenant and batch.

    With ``reserve`` above 1, a process takes that many counts at once and hands out the rest
    locally until they run out or the window closes: no round trip for those hits. The total is
    still one budget across processes; what a process reserved and did not use by the end of
    the window (at most ``reserve - 1``) is simply not admitted anywhere, so the limit is never
    exceeded. EVAL rather than EVALSHA: a Valkey that restarted empty has no cached script.
    """

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._batch: dict[str, tuple[int, int, list[asyncio.Future[tuple[int, int]]]]] = {}
        self._reserved: dict[str, _Reserved] = {}
        self._flushing: asyncio.Task[None] | None = None

    def admit(self, key: str, limit: int) -> bool:
        """Whether this process's reserve for ``key`` holds a count within ``limit``; if so the
        hit is counted, with no round trip. False sends the caller to ``take``/``hit``, which
        give the count (and the window's end, for a refusal)."""
        held = self._reserved.get(key)
        if held is None or held.next > held.last or held.next > limit or held.ends <= time.monotonic():
            return False
        held.next += 1
        return True

    def take(self, key: str) -> tuple[int, int] | None:
        """A hit counted from this process's reserve for ``key``, with no round trip, as ``hit``
        answers it; None when nothing is reserved or left."""
        held = self._reserved.get(key)
        if held is not None:
            left = held.ends - time.monotonic()
            if held.next <= held.last and left > 0:
                held.next += 1
                return held.next - 1, int(left * 1000)
            del self._reserved[key]
        return None

    async def hit(self, key: str, window_ms: int, reserve: int = 1) -> tuple[int, int]:
        """(this hit's count in the window, 1 for the first; ms left in the window)."""
        taken = self.take(key)
        if taken is not None:
            return taken
        future: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._batch.setdefault(key, (window_ms, reserve, []))[2].append(future)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._batch:
            batch, self._batch = self._batch, {}
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, (window_ms, reserve, futures) in batch.items():
                        pipe.eval(_SCRIPT, 1, key, window_ms, max(len(futures), reserve))
                    answers = await pipe.execute()
            except Exception as exc:  # each caller decides what an unreachable Valkey means
                for _, _, futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            now = time.monotonic()
            for (key, (_, reserve, futures)), (total, left_ms) in zip(batch.items(), answers, strict=True):
                first = int(total) - max(len(futures), reserve) + 1
                for n, future in enumerate(futures, start=first):
                    if not future.done():  # the request may have gone meanwhile
                        future.set_result((n, int(left_ms)))
                if first + len(futures) <= int(total):
                    self._reserved[key] = _Reserved(first + len(futures), int(total), now + int(left_ms) / 1000)


def budget_key(budget: str, subject: str) -> str:
    """The Valkey counter of one subject's budget."""
    return f"{KEY_PREFIX}:{budget}:{subject}"


def reserve_for(limit: int) -> int:
    """Counts a process takes at once for a budget of ``limit``: a hundredth of it (at most
    1,000), so a busy tenant costs one Valkey command per that many requests per process, and
    small budgets (under 200) stay exact."""
    return max(1, min(1000, limit // 100))


class TooManyRequests(PonteError):
    status, title, slug = 429, "Too many requests", "rate-limited"


def limited_operations(op: OperationInfo) -> set[int]:
    """For the spec: 429 wherever a budget applies, every operation a key calls and the intake.
    (An operator-only operation counts too: a tenant key calling it spends its budget first.)"""
    return {429} if op.secured or (op.method == "POST" and INTAKE_PATH.match(op.path)) else set()


add_problem_rule(limited_operations)


# A tenant's id as its budgets' subject: formatting a UUID costs more than looking it up.
_SUBJECTS: dict[Any, str] = {}


def budget_for(method: str, path: str, user: object, settings: Settings) -> tuple[str, str, int] | None:
    """(budget, subject, limit) for this request, or None when it is not limited."""
    tenant_id = getattr(user, "tenant_id", None)
    if tenant_id is not None:
        subject = _SUBJECTS.get(tenant_id)
        if subject is None:
            if len(_SUBJECTS) >= 10_000:
                _SUBJECTS.clear()
            subject = _SUBJECTS[tenant_id] = str(tenant_id)
        if method in READ_METHODS:
            return "reads", subject, settings.rate_limit_reads
        return "writes", subject, settings.rate_limit_writes
    if method == "POST" and (match := INTAKE_PATH.match(path)):
        return "intake", match.group(1)[:64], settings.rate_limit_intake
    return None


class RateLimit:
    """The budget check of one process: one ``Counter`` per Valkey client (a new one after the
    queue reconnects). Used by the middleware below and by the webhook intake's direct path
    (gateway/webhooks/direct.py), which answers ahead of the middleware."""

    def __init__(self) -> None:
        self._counter: Counter | None = None
        self._app: Any = None
        self._settings: Any = None
        # tenant id -> ((key, limit) of its writes, (key, limit) of its reads), for this app's
        # settings: a tenant's request whose count is in the reserve is admitted from here.
        self._tenants: dict[Any, tuple[tuple[str, int], tuple[str, int]]] = {}

    def budget(self, scope: HTTPScope) -> tuple[str, str, int] | None:
        """(budget, subject, limit) this request spends, or None: most requests stop here."""
        user, method = scope.get("user"), scope["method"]
        if method != "POST" and getattr(user, "tenant_id", None) is None:
            return None  # what budget_for says, without reading the settings (health, docs, operator)
        app = scope["app"]
        if app is not self._app:  # an app's settings are fixed: read once, not per request
            self._app, self._settings = app, app.state.settings
            self._tenants.clear()
        found = budget_for(method, scope["path"], user, self._settings)
        return found if found is not None and found[2] > 0 else None

    def check(self, scope: HTTPScope) -> Awaitable[None] | None:
        """``budget`` then ``spend``: None when no budget applies or the reserve counted the
        request; an awaitable when Valkey must count it. ``TooManyRequests`` when over."""
        user = scope.get("user")
        tenant_id = getattr(user, "tenant_id", None)
        budgets = None
        if tenant_id is not None and scope["app"] is self._app:
            budgets = self._tenants.get(tenant_id)
            if budgets is not None:  # most of a tenant's requests end here, counted from the reserve
                key, limit = budgets[scope["method"] in READ_METHODS]
                if limit <= 0 or (self._counter is not None and self._counter.admit(key, limit)):
                    return None
        found = self.budget(scope)
        if tenant_id is not None and budgets is None:
            self._remember(tenant_id, user)
        return None if found is None else self.spend(scope, found)

    def _remember(self, tenant_id: Any, user: object) -> None:
        """Keep the tenant's two budgets as ``budget_for`` gives them (a write, then a read)."""
        if len(self._tenants) >= 10_000:
            self._tenants.clear()
        writes, reads = (budget_for(method, "", user, self._settings) for method in ("POST", "GET"))
        if writes is not None and reads is not None:
            self._tenants[tenant_id] = ((budget_key(*writes[:2]), writes[2]), (budget_key(*reads[:2]), reads[2]))

    def spend(self, scope: HTTPScope, found: tuple[str, str, int]) -> Awaitable[None] | None:
        """Count this request against ``found`` (from ``budget``); ``TooManyRequests`` when over.

        None when the count came from this process's reserve (most requests of a busy tenant):
        no coroutine, no settings read. Otherwise an awaitable that counts it in Valkey."""
        key = budget_key(*found[:2])
        if self._counter is not None and (taken := self._counter.take(key)) is not None:
            _refuse_over(scope, found, *taken)
            return None
        return self._spend(scope, key, found)

    async def _spend(self, scope: HTTPScope, key: str, found: tuple[str, str, int]) -> None:
        state = scope["app"].state
        settings: Settings = state.settings
        window_ms = settings.rate_limit_window_seconds * 1000
        try:
            if self._counter is None or self._counter.redis is not state.queue.redis:  # a new client
                self._counter = Counter(state.queue.redis)
            count, left_ms = await self._counter.hit(key, window_ms, reserve_for(found[2]))
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_unavailable", error=type(exc).__name__)
            return
        _refuse_over(scope, found, count, left_ms)


def _refuse_over(scope: HTTPScope, found: tuple[str, str, int], count: int, left_ms: int) -> None:
    budget, _, limit = found
    if count > limit:
        window = scope["app"].state.settings.rate_limit_window_seconds
        reset = max(1, math.ceil(left_ms / 1000))
        raise TooManyRequests(
            f"Over the {budget} budget of {limit} requests per {window} s; retry in {reset} s.",
            headers={
                "Retry-After": str(reset),
                "RateLimit-Limit": str(limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
            },
        )


def rate_limit(app: ASGIApp) -> ASGIApp:
    """ASGI middleware; sits after authentication, which names the tenant."""
    limit = RateLimit()

    async def limited(counting: Awaitable[None], scope: Scope, receive: Receive, send: Send) -> None:
        await counting
        await app(scope, receive, send)

    def middleware(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function: requests no budget applies to (health, docs, operator calls), and
        # those counted from this process's reserve, go on without a coroutine of their own.
        if scope["type"] == ScopeType.HTTP and (counting := limit.check(scope)) is not None:
            return limited(counting, scope, receive, send)
        return app(scope, receive, send)

    return middleware
