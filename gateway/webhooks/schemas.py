from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

EventStatus = Literal["received", "processed", "failed", "rejected"]

Source = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(task-system|boavista|insurer:[a-z0-9-]+)$",
        description="`task-system`, `boavista`, or `insurer:<code>` (see GET /v1/insurers)",
        examples=["task-system", "boavista", "insurer:allianz"],
    ),
]


class WebhookEndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    source: Source
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""


class WebhookEndpoint(msgspec.Struct):
    id: uuid.UUID
    source: str
    description: str
    url: str
    enabled: bool
    event_types: list[str]
    secrets_active: int
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpoint):
    """Returned once, at creation or rotation: the signing secret is not shown again."""

    secret: str = ""


class WebhookEndpointPage(msgspec.Struct):
    items: list[WebhookEndpoint]
    next_cursor: str | None


class SecretRotation(msgspec.Struct, forbid_unknown_fields=True):
    grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)] = 86_400


class SecretRotated(msgspec.Struct):
    endpoint_id: uuid.UUID
    secret: str
    previous_valid_until: datetime | None


class Accepted(msgspec.Struct):
    """Intake's answer: the event is stored durably and will be processed."""

    id: uuid.UUID
    status: EventStatus
    duplicate: bool = False


class EventAttempt(msgspec.Struct):
    attempt: int
    max_attempts: int
    task_status: str
    error_code: str | None
    error: str | None


class WebhookEvent(msgspec.Struct):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    source: str
    webhook_id: str
    type: str | None
    status: EventStatus
    received_at: datetime
    processed_at: datetime | None
    error: str | None
    task_id: uuid.UUID | None


class WebhookEventDetail(WebhookEvent):
    headers: dict[str, str] = {}
    processing: EventAttempt | None = None
    rejection: dict[str, Any] | None = None
    payload: Any = None


class WebhookEventPage(msgspec.Struct):
    items: list[WebhookEvent]
    next_cursor: str | None


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    received_from: datetime
    received_to: datetime
    status: Literal["failed"] = "failed"


class ReplayResult(msgspec.Struct):
    replayed: int
    event_ids: list[uuid.UUID]
