"""Logs, request ids and metrics.

Logs are JSON lines (structlog) carrying ``request_id`` in the gateway and ``task_id`` in
workers. Nothing logs request or response bodies: they may hold credentials or documents.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import os
import sys
import time
from collections.abc import Awaitable, Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from litestar import Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import text

log = structlog.get_logger("ponte.http")


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


# The request being answered, for every log line it causes. One ContextVar set per request:
# structlog's bind_contextvars/reset_contextvars cost several times more on the hot path.
REQUEST_ID: ContextVar[str | None] = ContextVar("ponte_request_id", default=None)


def add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        # Resolve sys.stderr at each call: test runners and daemons swap it, and a logger
        # cached with the old (closed) stream would fail the caller, not just its log line.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    set_log_level(logging.getLevelName(level.upper()))
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    # zeep logs whole SOAP envelopes at DEBUG (WS-Security passwords included) and httpcore
    # logs partners' response headers: neither may reach the logs, at any level.
    for noisy in ("httpx", "httpcore", "zeep", "uvicorn.access", "arq.worker", "arq.jobs"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_REQUEST_ID = b"x-request-id"
# Request ids: 80 random bits per process, then a counter (32 hex digits in all). Unique across
# processes and restarts like a random id, without a system call per request.
_ID_PREFIX = os.urandom(10).hex()
_ID_COUNTER = itertools.count()
CLIENT_GONE = "client_gone"
# nginx's "client closed request": logged and counted, never seen by anyone.
CLIENT_CLOSED_REQUEST = 499


def client_gone(scope: Scope) -> bool:
    """The client disconnected before its request was read: whatever failed next is not a server error."""
    return bool(scope.get("state", {}).get(CLIENT_GONE))


class RequestMetrics:
    """Request counts and latencies per (method, route, status), with the names and labels
    Litestar's Prometheus middleware used, so dashboards keep working.

    Kept in plain numbers and turned into Prometheus families only when ``/metrics`` is read:
    prometheus_client's own metrics take a lock on every update, five per request here, and
    one event loop per process needs none. A request only appends its sample to ``pending``;
    samples are added up a thousand at a time (``fold``), in one loop, and whenever the
    numbers are read.
    """

    LABELS = ("method", "path", "status_code", "app_name")
    BUCKETS = Histogram.DEFAULT_BUCKETS
    FOLD_EVERY = 1000

    def __init__(self) -> None:
        # (method, route, status, seconds) of each request since the last fold.
        self.pending: list[tuple[str, str, int, float]] = []
        self._routes: dict[tuple[str, str, int], list[Any]] = {}
        self.in_progress = 0

    @property
    def routes(self) -> dict[tuple[str, str, int], list[Any]]:
        """(method, route, status) -> [count, sum of seconds, count per bucket], up to date."""
        self.fold()
        return self._routes

    def fold(self) -> None:
        """Add the pending samples into the per-route numbers."""
        routes, buckets, bucket_of = self._routes, self.BUCKETS, bisect.bisect_left
        for method, path, status, seconds in self.pending:
            entry = routes.get((method, path, status))
            if entry is None:
                entry = routes[method, path, status] = [0, 0.0, [0] * len(buckets)]
            entry[0] += 1
            entry[1] += seconds
            entry[2][bucket_of(buckets, seconds)] += 1
        self.pending.clear()  # the same list: observe_requests holds its append

    def collect(self) -> Iterator[Metric]:
        labels = list(self.LABELS)
        requests = CounterMetricFamily("ponte_requests", "Total requests", labels=labels)
        errors = CounterMetricFamily("ponte_requests_error", "Total errors in requests", labels=labels)
        duration = HistogramMetricFamily(
            "ponte_request_duration_seconds", "Request duration, in seconds", labels=labels
        )
        for (method, path, status), (count, total, buckets) in list(self.routes.items()):
            values = [method, path, str(status), "ponte"]
            requests.add_metric(values, count)
            if status >= 500:
                errors.add_metric(values, count)
            cumulative = itertools.accumulate(buckets)
            duration.add_metric(
                values,
                [("+Inf" if le == math.inf else repr(le), n) for le, n in zip(self.BUCKETS, cumulative, strict=True)],
                total,
            )
        yield requests
        yield errors
        yield duration
        yield GaugeMetricFamily("ponte_requests_in_progress", "Requests being answered", self.in_progress)


REQUEST_METRICS = RequestMetrics()
REGISTRY.register(REQUEST_METRICS)


# The level structlog filters at. Set only through set_log_level, so the request line's check
# is a global read: a filtered-out call still builds a bound logger (the logger is not cached,
# see above), and asking structlog for its configuration costs about a microsecond a request.
LOG_LEVEL = logging.INFO


def set_log_level(level: int) -> None:
    """Filter structlog's lines below ``level`` (the request lines are INFO)."""
    global LOG_LEVEL
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))
    LOG_LEVEL = level


def observe_requests(app: ASGIApp) -> ASGIApp:
    """Every HTTP request gets an id (an incoming ``X-Request-ID`` is kept), echoed on the
    response, bound to its log lines, and one log line and one metrics sample with the status
    actually sent.

    This wraps Litestar's app-level exception handler (see ``create_app``), so it also sees
    the problems raised by middleware (401/403 from auth, the Idempotency-Key 422) and by the
    router (404, 405), which route-level middleware never does. It is one plain function on
    the hot path: the request line, the id and the metrics cost a few microseconds.
    """

    metrics = REQUEST_METRICS
    pending = metrics.pending
    record = pending.append
    fold_every = metrics.FOLD_EVERY
    clock = time.perf_counter
    set_id, reset_id = REQUEST_ID.set, REQUEST_ID.reset

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                given = value.decode("latin-1")
                if 0 < len(given) <= 64 and given.isascii() and given.isprintable():
                    request_id = given
                break
        if request_id is None:
            request_id = _ID_PREFIX + "%012x" % next(_ID_COUNTER)  # noqa: UP031 - a third of format()'s time
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        header = (_REQUEST_ID, request_id.encode())
        status = 0

        async def receive_watching() -> ReceiveMessage:
            message = await receive()
            if message["type"] == "http.disconnect":
                state[CLIENT_GONE] = True
            return message

        def send_with_id(message: Message) -> Awaitable[None]:
            # A plain function handing on send's own awaitable: no coroutine of its own per message.
            if message["type"] == "http.response.start":
                nonlocal status
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            return send(message)

        token = set_id(request_id)
        metrics.in_progress += 1
        started = clock()
        try:
            await app(scope, receive_watching, send_with_id)
        finally:
            seconds = clock() - started
            metrics.in_progress -= 1
            # Nothing sent means the app failed past every handler: the server answers 500.
            sent = status or 500
            path = scope.get("path_template") or "unmatched"
            if path != "/metrics":
                record((scope["method"], path, sent, seconds))
                if len(pending) >= fold_every:
                    metrics.fold()
            if LOG_LEVEL <= logging.INFO:
                duration_ms = round(seconds * 1000, 2)
                log.info("request", method=scope["method"], path=scope["path"], status=sent, duration_ms=duration_ms)
            reset_id(token)

    observed.__wrapped__ = app  # type: ignore[attr-defined]  # what it observes, for tests
    return observed


TASKS = Gauge("ponte_tasks", "Tasks by kind and status", ["kind", "status"])
QUEUE_DEPTH = Gauge("ponte_queue_depth", "Jobs waiting in the arq queue")


async def refresh_gauges(state: State) -> None:
    async with state.db.sessionmaker() as session:
        rows = (
            await session.execute(text("SELECT kind, status, count(*) AS n FROM tasks GROUP BY kind, status"))
        ).all()
    TASKS.clear()
    for row in rows:
        TASKS.labels(kind=row.kind, status=row.status).set(row.n)
    QUEUE_DEPTH.set(await state.queue.depth())


class MetricsController(PrometheusController):
    """Prometheus ``/metrics``: request metrics from the middleware, task and queue gauges."""

    @get(include_in_schema=False)
    async def get(self, state: State) -> Response[bytes]:  # type: ignore[override]
        try:
            await refresh_gauges(state)
        except Exception as exc:
            log.warning("metrics_refresh_failed", error=repr(exc))
        return Response(generate_latest(REGISTRY), status_code=200, headers={"Content-Type": CONTENT_TYPE_LATEST})
