from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sandbox.server import SandboxServer
from tests.boavista_sandbox import WebhookReceiver, sandbox_config
from tests.reconciliation.support import TZ, Boavista, today_local


@pytest.fixture(scope="session")
def relay() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.server.shutdown()


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """Boavista's test-only side, configured with many divergences so every reason shows up."""
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=60) as client:
        config = {
            "today": today_local().isoformat(),
            "timezone": TZ,
            "sales_per_day": 24,
            "divergence_rate": 0.3,
            "return_delay_s": 0.02,
            "retry_delays_s": [0.05, 0.1],
            "not_found_reported_after_days": None,
        }
        async with sandbox_config(client, **config) as ledger_config:
            client.ledger_config = ledger_config  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def boavista(client, admin, runtime, relay, tenants, sandbox: SandboxServer) -> Boavista:  # type: ignore[no-untyped-def]
    b = Boavista(client, admin, runtime, relay, await tenants.create(), sandbox.url, admin.ledger_config)
    await b.register()
    return b
