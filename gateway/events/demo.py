"""``ponte dev``: a demo event endpoint for the demo tenant, pointing at the sandbox receiver.

The sandbox receiver keeps its configuration in memory, so each start hands it the endpoint's
active secrets again (read from the database, as only Ponte can), then every event the demo
tenant causes shows up at ``/receiver/_receivers/demo/received``, verified.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import select

from gateway.crypto import CredentialCipher
from gateway.db.base import utcnow
from gateway.db.session import Database
from gateway.egress import EgressPolicy
from gateway.events import schemas, service
from gateway.events.models import EventEndpoint
from gateway.settings import Settings
from gateway.tenants import service as tenants
from gateway.webhooks.signing import active_secrets

DESCRIPTION = "ponte dev: the sandbox receiver"
RECEIVER = "demo"


async def register_demo_endpoint(settings: Settings) -> str:
    """Create (once) the demo tenant's endpoint and configure the receiver; returns its URL."""
    url = f"{settings.sandbox_url}/receiver/{RECEIVER}"
    cipher = CredentialCipher(settings.secret_key)
    db = Database(settings.database_url, pool_size=2)
    try:
        async with db.unit_of_work() as session:
            tenant = await tenants.get_tenant_by_slug(session, "demo")
            if tenant is None:
                return url
            stmt = select(EventEndpoint).where(EventEndpoint.tenant_id == tenant.id, EventEndpoint.url == url)
            endpoint = (await session.scalars(stmt)).first()
            if endpoint is None:
                data = schemas.EventEndpointCreate(url=url, description=DESCRIPTION)
                endpoint, _ = await service.create_endpoint(
                    session, cipher, EgressPolicy.from_settings(settings), tenant.id, data
                )
            secrets = active_secrets(cipher, endpoint.secrets, now=utcnow())
    finally:
        await db.dispose()
    deadline = time.monotonic() + 20
    async with EgressPolicy.from_settings(settings).client(timeout=2) as http:  # dev allows the sandbox
        while True:  # the sandbox process may still be starting
            try:
                await http.put(f"{settings.sandbox_url}/receiver/_receivers/{RECEIVER}", json={"secrets": secrets})
                return url
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
