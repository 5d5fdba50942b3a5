"""The outbound event catalogue: every event Ponte sends, with its typed, versioned payload.

Names are dotted ``noun.verb``. Each payload (``data``) is a msgspec Struct, so the same type
validates what is emitted, documents it at ``GET /v1/event-types`` and in the spec's
``webhooks`` section. Payloads carry ids, counters and links, never secrets or document
contents. A breaking change to a payload gets a new ``version``, never a silent edit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import msgspec


class ImportPeriod(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date


class ImportOutcome(msgspec.Struct, kw_only=True):
    """An insurer import finished (``import.succeeded``, ``.partially_succeeded``, ``.failed``)."""

    task_id: uuid.UUID
    connection_id: uuid.UUID | None
    insurer: str | None
    trigger: str
    period: ImportPeriod | None
    counters: dict[str, int]
    error_code: str | None = None
    error: str | None = None
    results_url: str


class SyncRunFailed(msgspec.Struct, kw_only=True):
    """A health-plan portal sync run failed for good."""

    run_id: uuid.UUID
    sync: str
    trigger: str
    counters: dict[str, int]
    error_code: str | None
    error: str | None
    run_url: str


class SyncStale(msgspec.Struct, kw_only=True):
    """A scheduled sync missed its expected freshness: no successful run in the last period."""

    sync: str
    frequency: str
    last_success_at: datetime | None
    freshness: Literal["late", "error"]
    sync_url: str


class DocumentDelivered(msgspec.Struct, kw_only=True):
    delivery_id: uuid.UUID
    client_id: str
    template: str
    file_name: str
    name_used: str | None
    folder_path: list[str] | None
    size: int | None
    delivery_url: str


class DocumentDeliveryFailed(msgspec.Struct, kw_only=True):
    delivery_id: uuid.UUID
    client_id: str
    template: str
    file_name: str
    error_code: str | None
    error: str | None
    retry_url: str


class RemittanceReturnedSummary(msgspec.Struct, kw_only=True):
    """Boavista's return for a remittance was applied."""

    remittance_id: str
    establishment_code: str
    matched: int
    divergent: int
    stale: int
    remittance_url: str


class DivergenceOpened(msgspec.Struct, kw_only=True):
    """A card sale came back divergent from Boavista and needs a look."""

    sale_id: str
    reason: str | None
    gross_amount_cents: int
    currency: str
    sold_at: datetime
    divergences_url: str


class SaleExpired(msgspec.Struct, kw_only=True):
    """A sale was not reconciled within its window; a person must look."""

    sale_id: str
    reason: str | None
    gross_amount_cents: int
    currency: str
    sold_at: datetime


class ReconciliationDailySummary(msgspec.Struct, kw_only=True):
    """The counters of a reconciliation run, once per run."""

    run_id: uuid.UUID
    day: date | None
    establishment_code: str | None
    counters: dict[str, int]
    summary_url: str


class InboundEventFailed(msgspec.Struct, kw_only=True):
    """A partner's webhook failed processing for good (retries spent or a permanent error)."""

    event_id: uuid.UUID
    endpoint_id: uuid.UUID
    source: str
    type: str | None
    webhook_id: str
    error: str | None
    replay_url: str


class EndpointDisabled(msgspec.Struct, kw_only=True):
    """An event endpoint was disabled by Ponte (failing for too long, or it answered 410 Gone)."""

    endpoint_id: uuid.UUID
    url: str
    reason: Literal["failing", "gone"]
    failing_since: datetime | None


class Ping(msgspec.Struct, kw_only=True):
    """Sent by ``POST /v1/event-endpoints/{id}/test`` to that endpoint only."""

    message: str = "ping"


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    data: type[msgspec.Struct]
    description: str
    group: str


def _types(*types: EventType) -> dict[str, EventType]:
    return {t.name: t for t in types}


EVENT_TYPES: dict[str, EventType] = _types(
    EventType("import.succeeded", 1, ImportOutcome, "An insurer import finished with every record applied.", "imports"),
    EventType(
        "import.partially_succeeded", 1, ImportOutcome, "An insurer import finished with failed records.", "imports"
    ),
    EventType("import.failed", 1, ImportOutcome, "An insurer import failed for good.", "imports"),
    EventType("sync.run.failed", 1, SyncRunFailed, "A portal sync run failed for good.", "portal"),
    EventType("sync.stale", 1, SyncStale, "A scheduled portal sync missed its expected freshness.", "portal"),
    EventType("document.delivered", 1, DocumentDelivered, "A document reached the client portal.", "documents"),
    EventType(
        "document.delivery_failed",
        1,
        DocumentDeliveryFailed,
        "A document could not be delivered; the payload links to its retry.",
        "documents",
    ),
    EventType(
        "reconciliation.remittance.returned",
        1,
        RemittanceReturnedSummary,
        "Boavista's return for a remittance was applied.",
        "reconciliation",
    ),
    EventType(
        "reconciliation.divergence.opened", 1, DivergenceOpened, "A card sale came back divergent.", "reconciliation"
    ),
    EventType(
        "reconciliation.sale.expired", 1, SaleExpired, "A card sale was not reconciled in its window.", "reconciliation"
    ),
    EventType(
        "reconciliation.daily_summary",
        1,
        ReconciliationDailySummary,
        "The counters of a finished reconciliation run.",
        "reconciliation",
    ),
    EventType(
        "inbound_event.failed", 1, InboundEventFailed, "A partner's webhook failed processing for good.", "webhooks"
    ),
    EventType(
        "endpoint.disabled", 1, EndpointDisabled, "Ponte disabled one of the tenant's event endpoints.", "events"
    ),
    EventType("ping", 1, Ping, "A test message sent to one endpoint on request.", "events"),
)
