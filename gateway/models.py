"""Every table, imported once so the metadata is complete (alembic, tests)."""

from gateway.documents.models import DocumentDelivery, DocumentTemplate, PortalIntegration
from gateway.events.models import Event, EventAttempt, EventDelivery, EventEndpoint
from gateway.idempotency.models import IdempotencyRecord
from gateway.imports.models import ImportResult, InsurerConnection, Policy, PolicyReceipt, ReceiptStatusChange
from gateway.portal.models import (
    CoreSystemConnection,
    PortalRequest,
    PortalRequestEvent,
    SyncedRecord,
    SyncFailure,
    SyncState,
)
from gateway.reconciliation.models import (
    AcquirerSale,
    CardSale,
    CardSaleEvent,
    EstablishmentSetting,
    Remittance,
    RemittanceItem,
    SaleMatch,
)
from gateway.tasks.models import Task
from gateway.tenants.models import ApiKey, Tenant
from gateway.webhooks.models import WebhookEndpoint, WebhookEvent

__all__ = [
    "AcquirerSale",
    "ApiKey",
    "CardSale",
    "CardSaleEvent",
    "CoreSystemConnection",
    "DocumentDelivery",
    "DocumentTemplate",
    "EstablishmentSetting",
    "Event",
    "EventAttempt",
    "EventDelivery",
    "EventEndpoint",
    "IdempotencyRecord",
    "ImportResult",
    "InsurerConnection",
    "Policy",
    "PolicyReceipt",
    "PortalIntegration",
    "PortalRequest",
    "PortalRequestEvent",
    "ReceiptStatusChange",
    "Remittance",
    "RemittanceItem",
    "SaleMatch",
    "SyncFailure",
    "SyncState",
    "SyncedRecord",
    "Task",
    "Tenant",
    "WebhookEndpoint",
    "WebhookEvent",
]
