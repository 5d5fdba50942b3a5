"""Where Boavista posts ``remittance.returned``: the tenant's Ponte webhook endpoint (source ``boavista``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.reconciliation.models import EstablishmentSetting
from gateway.runtime import Runtime
from gateway.webhooks import service as webhooks
from gateway.webhooks.models import WebhookEndpoint
from gateway.webhooks.signing import active_secrets


async def return_endpoint(session: AsyncSession, runtime: Runtime, setting: EstablishmentSetting) -> tuple[str, str]:
    """The URL and current secret Boavista must sign with; creates the endpoint the first time.

    An existing endpoint is reused (its newest secret is handed to Boavista), so enabling twice
    does not leave a stray endpoint behind.
    """
    endpoint: WebhookEndpoint | None = None
    if setting.webhook_endpoint_id is not None:
        endpoint = await session.get(WebhookEndpoint, setting.webhook_endpoint_id)
        if endpoint is not None and (endpoint.tenant_id != setting.tenant_id or not endpoint.enabled):
            endpoint = None
    endpoint = endpoint or await webhooks.find_endpoint(session, setting.tenant_id, "boavista")
    if endpoint is None:
        endpoint, secret = await webhooks.create_endpoint(
            session,
            runtime.cipher,
            tenant_id=setting.tenant_id,
            source="boavista",
            description="Boavista remittance returns (card-sales reconciliation)",
        )
    else:
        secret = active_secrets(runtime.cipher, endpoint.secrets, now=utcnow())[0]
    setting.webhook_endpoint_id = endpoint.id
    return f"{runtime.settings.public_url}/v1/webhooks/{endpoint.id}", secret
