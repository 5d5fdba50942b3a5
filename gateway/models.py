"""Every table, imported once so the metadata is complete (alembic, tests)."""

from gateway.idempotency.models import IdempotencyRecord
from gateway.tasks.models import Task
from gateway.tenants.models import ApiKey, Tenant

__all__ = ["ApiKey", "IdempotencyRecord", "Task", "Tenant"]
