"""Logs, request ids and metrics.

Logs are JSON lines (structlog) carrying ``request_id`` in the gateway and ``task_id`` in
workers. Nothing logs request or response bodies: they may hold credentials or documents.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import Any

import structlog
from litestar import Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from sqlalchemy import text

log = structlog.get_logger("ponte.http")


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Resolve sys.stderr at each call: test runners and daemons swap it, and a logger
        # cached with the old (closed) stream would fail the caller, not just its log line.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    # zeep logs whole SOAP envelopes at DEBUG (WS-Security passwords included) and httpcore
    # logs partners' response headers: neither may reach the logs, at any level.
    for noisy in ("httpx", "httpcore", "zeep", "uvicorn.access", "arq.worker", "arq.jobs"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def request_context(app: ASGIApp) -> ASGIApp:
    """Give every request an id (honouring an incoming ``X-Request-ID``), echo it back, and
    log one line per request with method, path, status and duration."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )

    return middleware


prometheus_config = PrometheusConfig(app_name="ponte", prefix="ponte", group_path=True, exclude=[r"^/metrics"])

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
