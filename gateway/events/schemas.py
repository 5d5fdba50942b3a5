from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from gateway.events.catalogue import EVENT_TYPES
from gateway.inputs import HttpUrl

DeliveryStatus = Literal["pending", "sending", "succeeded", "failed"]

# The catalogue's names, so the spec lists them (an enum) and msgspec refuses any other.
if TYPE_CHECKING:
    EventTypeName = str
else:
    EventTypeName = Annotated[Literal[tuple(EVENT_TYPES)], msgspec.Meta(description="A name from GET /v1/event-types")]


class EventEndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: HttpUrl
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""
    event_types: Annotated[
        list[EventTypeName], msgspec.Meta(max_length=50, description="Types to receive; empty means all")
    ] = []
    enabled: bool = True


class EventEndpointUpdate(msgspec.Struct, forbid_unknown_fields=True):
    url: HttpUrl | None = None
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    event_types: Annotated[list[EventTypeName], msgspec.Meta(max_length=50)] | None = None


class EventEndpoint(msgspec.Struct):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    last_success_at: datetime | None
    secrets_active: int
    created_at: datetime


class EventEndpointCreated(EventEndpoint):
    """Returned once, at creation: the signing secret is not shown again."""

    secret: str = ""


class EventEndpointPage(msgspec.Struct):
    items: list[EventEndpoint]
    next_cursor: str | None


class EventSecretRotation(msgspec.Struct, forbid_unknown_fields=True):
    grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)] = 86_400


class EventSecretRotated(msgspec.Struct):
    endpoint_id: uuid.UUID
    secret: str
    previous_valid_until: datetime | None


class EventTypeInfo(msgspec.Struct):
    name: str
    version: int
    group: str
    description: str
    schema: dict[str, Any]


class EventTypeList(msgspec.Struct):
    items: list[EventTypeInfo]


class MessageDelivery(msgspec.Struct):
    endpoint_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    succeeded_at: datetime | None


class EventMessage(msgspec.Struct):
    id: uuid.UUID
    type: str
    version: int
    created_at: datetime
    deliveries: list[MessageDelivery]


class EventMessageDetail(EventMessage):
    payload: Any = None


class EventMessagePage(msgspec.Struct):
    items: list[EventMessage]
    next_cursor: str | None


class DeliveryAttempt(msgspec.Struct):
    id: uuid.UUID
    event_id: uuid.UUID
    endpoint_id: uuid.UUID
    attempt: int
    attempted_at: datetime
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_body: str | None
    error: str | None


class DeliveryAttemptPage(msgspec.Struct):
    items: list[DeliveryAttempt]
    next_cursor: str | None


class MessageRetry(msgspec.Struct, forbid_unknown_fields=True):
    endpoint_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="Only this endpoint; by default every failed delivery")
    ] = None


class MessageRetried(msgspec.Struct):
    event_id: uuid.UUID
    deliveries: int


class EndpointRecover(msgspec.Struct, forbid_unknown_fields=True):
    since: datetime
    until: datetime | None = None


class EndpointRecovered(msgspec.Struct):
    endpoint_id: uuid.UUID
    recovered: int
