"""The HTTP clients event deliveries go through, and the registration-time URL check.

Both are the egress guard's (gateway/egress.py): a delivery connects only to an address the
policy allows after resolving the name at connect time, and registration refuses with a 422
what the guard would refuse (loopback, private, link-local, metadata; http outside
development). Redirects are never followed: a 3xx is an answer, and a failed one, since only
a 2xx counts as delivered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection

import httpx

from gateway.egress import EgressPolicy, check_configured_url
from gateway.errors import FieldError, Unprocessable
from gateway.settings import Settings

USER_AGENT = "Ponte-Webhooks/1"


def delivery_client(policy: EgressPolicy, settings: Settings, connections: int) -> httpx.AsyncClient:
    return policy.client(
        timeout=httpx.Timeout(
            settings.event_attempt_timeout_seconds, connect=min(5.0, settings.event_attempt_timeout_seconds)
        ),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        headers={"user-agent": USER_AGENT},
    )


class EndpointClients:
    """One small connection pool per endpoint, closed after a while unused.

    A pool per endpoint keeps one endpoint's slow connections from queueing another's
    requests, and keeps each pool small: httpcore's pool does work proportional to its size
    for every request it places, which a single large shared pool pays on every attempt.
    """

    IDLE_SECONDS = 300.0

    def __init__(self, policy: EgressPolicy, settings: Settings) -> None:
        self.policy = policy
        self.settings = settings
        self._clients: dict[uuid.UUID, tuple[httpx.AsyncClient, float]] = {}

    def get(self, endpoint_id: uuid.UUID) -> httpx.AsyncClient:
        entry = self._clients.get(endpoint_id)
        client = (
            entry[0] if entry else delivery_client(self.policy, self.settings, self.settings.event_endpoint_concurrency)
        )
        self._clients[endpoint_id] = (client, time.monotonic())
        return client

    async def prune(self, busy: Collection[uuid.UUID]) -> None:
        cutoff = time.monotonic() - self.IDLE_SECONDS
        for endpoint_id, (client, used) in list(self._clients.items()):
            if used < cutoff and endpoint_id not in busy:
                del self._clients[endpoint_id]
                await client.aclose()

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client, _ in clients.values():
            await client.aclose()


async def check_endpoint_url(url: str, policy: EgressPolicy, pointer: str = "/url") -> str:
    """422 unless ``url`` is an absolute https URL (http in development) that the egress
    guard lets through: its host resolves only to addresses Ponte may call."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _invalid(pointer, "not a valid URL") from exc
    if not parsed.host:
        raise _invalid(pointer, "must name a host")
    if parsed.userinfo:
        raise _invalid(pointer, "must not carry credentials; use the signing secret")
    await check_configured_url(policy, url, pointer=pointer)
    return url


def _invalid(pointer: str, detail: str) -> Unprocessable:
    return Unprocessable(f"The endpoint URL {detail}.", errors=[FieldError(pointer=pointer, detail=detail)])
