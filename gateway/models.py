"""Every table, imported once so the metadata is complete (alembic, tests)."""

from gateway.idempotency.models import IdempotencyRecord
from gateway.tasks.models import Task
from gateway.tenants.models import ApiKey, Tenant
from gateway.webhooks.models import WebhookEndpoint, WebhookEvent

__all__ = ["ApiKey", "IdempotencyRecord", "Task", "Tenant", "WebhookEndpoint", "WebhookEvent"]
