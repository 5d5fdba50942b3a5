"""The event types partners post, with the schema each payload must match.

Every event follows the Standard Webhooks envelope ``{"type", "timestamp", "data"}``. The
source of an endpoint decides which types it may send. A payload that parses but breaks its
type's schema is stored as ``rejected`` (for audit) and answered 422 with ``errors[]``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RawEnvelope(msgspec.Struct):
    """The envelope with ``data`` left undecoded, to be decoded straight into its type's schema
    (at intake, once the type is known to be accepted; when processing a stored event)."""

    type: str
    data: msgspec.Raw
    timestamp: str | None = None


# --- task system (seed 003) -------------------------------------------------------------


class TaskDocument(msgspec.Struct):
    id: NonEmpty
    template: NonEmpty
    # The name the file gets in the portal folder (no "/": it is one name, not a path).
    file_name: Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^/]+$")]
    # Exactly one of content_url / content_base64 carries the bytes.
    content_url: Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=2000)] | None = None
    content_base64: str | None = None
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")] | None = None
    content_type: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "application/octet-stream"
    # "task" for documents attached in the task; "accounting_integration" for those the
    # accounting system already published itself (they are not sent again).
    origin: Literal["task", "accounting_integration"] = "task"

    def __post_init__(self) -> None:
        if (self.content_url is None) == (self.content_base64 is None):
            raise ValueError("exactly one of content_url and content_base64 is required")


class TaskCompleted(msgspec.Struct):
    task_id: NonEmpty
    client_id: NonEmpty
    completed_at: datetime
    documents: Annotated[list[TaskDocument], msgspec.Meta(max_length=500)]
    # Bounded as stored (a delivery's employee, a new template's department): longer was taken
    # with a 202 and then refused by the database on every try.
    employee: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    department: Annotated[str, msgspec.Meta(max_length=100)] | None = None


# --- Boavista (seed 004) ----------------------------------------------------------------


class ReturnItem(msgspec.Struct):
    sale_id: NonEmpty
    status: Literal["matched", "divergent"]
    reason: Literal["authorization", "installments", "amount", "not_found", "duplicate", "nsu"] | None = None
    acquirer_sale_id: str | None = None
    detail: str | None = None


class RemittanceReturned(msgspec.Struct):
    establishment_code: NonEmpty
    remittance_id: NonEmpty
    returned_at: datetime
    items: list[ReturnItem]
    protocol: str | None = None


# --- insurers (seeds 000, 002) ----------------------------------------------------------


class PushedReceipt(msgspec.Struct):
    receipt_number: NonEmpty
    due_date: str
    amount_cents: int
    status: Literal["pending", "paid", "cancelled", "returned"]
    status_changed_on: str | None = None


class PolicyUpserted(msgspec.Struct):
    """A policy as the insurer holds it now (same shape as a portfolio record)."""

    insurer: NonEmpty
    policy_number: NonEmpty
    as_of: datetime
    status: str
    holder_name: str | None = None
    holder_tax_id: str | None = None
    holder_tax_id_type: str | None = None
    product: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    premium_cents: int | None = None
    currency: str | None = None
    updated_on: str | None = None
    receipts: list[PushedReceipt] = []


class ReceiptStatusChanged(msgspec.Struct):
    insurer: NonEmpty
    policy_number: NonEmpty
    receipt_number: NonEmpty
    status: Literal["pending", "paid", "cancelled", "returned"]
    changed_at: Annotated[str, msgspec.Meta(description="ISO date or date-time of the change")]
    as_of: datetime


class EventType(msgspec.Struct, frozen=True):
    name: str
    schema: Any
    sources: tuple[str, ...]  # "insurer" matches every "insurer:<code>" source
    description: str


EVENT_TYPES: dict[str, EventType] = {
    e.name: e
    for e in (
        EventType("task.completed", TaskCompleted, ("task-system",), "A task finished; deliver its documents."),
        EventType(
            "remittance.returned", RemittanceReturned, ("boavista",), "Boavista's verdict per sale of a remittance."
        ),
        EventType("policy.upserted", PolicyUpserted, ("insurer",), "An insurer changed a policy (real time)."),
        EventType(
            "receipt.status_changed", ReceiptStatusChanged, ("insurer",), "A receipt moved to paid/cancelled/returned."
        ),
    )
}


def source_family(source: str) -> str:
    return source.split(":", 1)[0]


def accepts(event_type: EventType, source: str) -> bool:
    return source_family(source) in event_type.sources


def _envelope(event: EventType) -> Any:
    """The envelope of one event type, tagged on ``type``, for the intake's documented body."""
    name = "".join(part.title() for part in event.name.replace("_", ".").split(".")) + "Event"
    return msgspec.defstruct(
        name,
        [("data", event.schema), ("timestamp", datetime | None, None)],
        tag_field="type",
        tag=event.name,
        module=__name__,
        namespace={"__doc__": f"{event.description} Sent by: {', '.join(event.sources)}."},
    )


# What a partner may post to the intake, discriminated on ``type`` (documentation of the same
# schemas the intake validates ``data`` against).
EventEnvelope = Union[tuple(_envelope(e) for e in EVENT_TYPES.values())]  # type: ignore[valid-type]  # noqa: UP007
