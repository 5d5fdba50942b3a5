"""One ``Settings`` read from the environment. Every knob Ponte has is here, with its default."""

from __future__ import annotations

import os
from functools import lru_cache

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Empty URLs mean "start the embedded servers" (``ponte dev`` and the tests only).
    database_url: str = ""
    redis_url: str = ""
    # Fernet keys, comma separated: the first encrypts, all decrypt (rotation).
    secret_key: str = "dev-only-secret-change-me"  # noqa: S105 - ponte dev writes a random one
    operator_key: str = ""
    public_url: str = "http://127.0.0.1:8000"
    # Partner base URLs default to the sandbox; production points them at the real partners.
    sandbox_url: str = "http://127.0.0.1:8090"
    webhook_tolerance_seconds: int = 300
    max_body_bytes: int = 1_048_576
    idempotency_ttl_seconds: int = 86_400
    task_lease_seconds: float = 60.0
    task_max_attempts: int = 5
    task_retry_base_seconds: float = 2.0
    sweep_grace_seconds: float = 30.0
    sweep_interval_seconds: int = 10
    worker_concurrency: int = 20
    # How long a Valkey command retries on a lost connection before it fails. A worker outlives
    # any outage regardless: it waits for Valkey at start-up and polls again after a failure.
    queue_retry_seconds: float = 60.0
    # How long any one Valkey command may take in the gateway (and a worker's own enqueues)
    # before it fails: a Valkey that takes connections but does not answer holds nothing up.
    queue_timeout_seconds: float = 2.0
    db_pool_size: int = 20
    api_key_cache_seconds: float = 10.0
    # A remittance still without its return webhook this long after sending is asked for by
    # the next reconciliation run (Boavista's polling fallback).
    boavista_return_grace_seconds: float = 3600.0
    # The egress guard (gateway/egress.py): addresses allowed although not public (CIDRs or
    # host:port, comma separated; ``ponte dev`` sets exactly the sandbox), plain http (dev and
    # tests only), and the body caps of partner answers and of fetched document contents.
    egress_allow: str = ""
    egress_allow_http: bool = False
    egress_max_response_bytes: int = 16 * 1024 * 1024
    document_max_bytes: int = 50 * 1024 * 1024
    # Outbound events (gateway/events/). Endpoint URLs pass the egress guard (https unless
    # egress_allow_http, public addresses unless egress_allow names them).
    # Seconds before each attempt (Svix's schedule); the last entry is the last attempt.
    event_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    event_attempt_timeout_seconds: float = 15.0
    # An endpoint failing without a success this long is disabled (endpoint.disabled is emitted).
    event_disable_after_seconds: float = 432_000.0
    event_endpoint_concurrency: int = 10  # attempts in flight per endpoint and worker process
    event_max_in_flight: int = 200  # attempts in flight per worker process
    # Circuit breaker: after this many failures in a row, hold off the endpoint for the cooldown.
    event_breaker_failures: int = 5
    event_breaker_cooldown_seconds: float = 30.0
    # A claimed delivery whose worker died is retried after this (at least 2 attempt timeouts + 5 s).
    event_lease_seconds: float = 60.0
    event_poll_seconds: float = 1.0  # fallback poll; commits wake the dispatcher at once (NOTIFY)
    # Per-tenant rate limits (gateway/ratelimit.py), requests per window; 0 turns one off.
    # Reads and writes are per tenant, intake per webhook endpoint.
    rate_limit_window_seconds: int = 60
    rate_limit_reads: int = 6000
    rate_limit_writes: int = 1200
    rate_limit_intake: int = 6000
    log_level: str = "INFO"
    log_format: str = "json"  # json | console
    data_dir: str = ".ponte"

    @property
    def event_schedule(self) -> list[float]:
        return [float(s) for s in self.event_retry_schedule.split(",") if s.strip()]

    @property
    def embedded(self) -> bool:
        return not self.database_url or not self.redis_url


# Environment variable for each field: DATABASE_URL and REDIS_URL as everyone spells them,
# everything else under the PONTE_ prefix.
_UNPREFIXED = {"database_url", "redis_url"}


def env_name(field: str) -> str:
    return field.upper() if field in _UNPREFIXED else f"PONTE_{field.upper()}"


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``environ`` (default ``os.environ``); ``overrides`` win."""
    environ = dict(os.environ) if environ is None else environ
    raw: dict[str, object] = {}
    for field in Settings.__struct_fields__:
        value = environ.get(env_name(field))
        if value is not None:
            raw[field] = value
    raw.update(overrides)
    # str_values=True lets "60" become 60.0 or 60 as the field's type says.
    return msgspec.convert(raw, Settings, strict=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
