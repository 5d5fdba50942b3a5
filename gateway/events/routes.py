from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.events import messages, schemas, service
from gateway.events.catalogue import EVENT_TYPES
from gateway.events.openapi import json_schemas
from gateway.pagination import PageParams
from gateway.runtime import Runtime

TypeFilter = Annotated[str | None, Parameter(query="type", description="Only events of this type")]


@get("/v1/event-types", operation_id="ListEventTypes", tags=["Events"], summary="The events Ponte can send you")
async def list_event_types() -> schemas.EventTypeList:
    """Every outbound event type with its version and the JSON Schema of its body. The same
    schemas are in this spec's `webhooks` section."""
    bodies = json_schemas()
    return schemas.EventTypeList(
        items=[
            schemas.EventTypeInfo(name=n, version=t.version, group=t.group, description=t.description, schema=bodies[n])
            for n, t in EVENT_TYPES.items()
        ]
    )


class EventEndpointController(Controller):
    path = "/v1/event-endpoints"
    tags = ["Events"]

    @post(
        "/", operation_id="CreateEventEndpoint", summary="Register an endpoint for outbound events (secret shown once)"
    )
    async def create(
        self, session: AsyncSession, tenant_id: uuid.UUID, runtime: Runtime, data: schemas.EventEndpointCreate
    ) -> schemas.EventEndpointCreated:
        endpoint, secret = await service.create_endpoint(session, runtime.cipher, runtime.egress, tenant_id, data)
        view = service.endpoint_view(endpoint)
        return schemas.EventEndpointCreated(**{f: getattr(view, f) for f in view.__struct_fields__}, secret=secret)

    @get("/", operation_id="ListEventEndpoints", summary="List event endpoints")
    async def list(
        self, session: AsyncSession, tenant_id: uuid.UUID, page: PageParams, enabled: bool | None = None
    ) -> schemas.EventEndpointPage:
        rows, next_cursor = await service.list_endpoints(session, tenant_id, page, enabled=enabled)
        return schemas.EventEndpointPage(items=[service.endpoint_view(e) for e in rows], next_cursor=next_cursor)

    @get("/{endpoint_id:uuid}", operation_id="GetEventEndpoint", summary="An event endpoint")
    async def detail(
        self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> schemas.EventEndpoint:
        return service.endpoint_view(await service.get_endpoint(session, tenant_id, endpoint_id))

    @patch("/{endpoint_id:uuid}", operation_id="UpdateEventEndpoint", summary="Change URL, description or filter")
    async def update(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        runtime: Runtime,
        data: schemas.EventEndpointUpdate,
    ) -> schemas.EventEndpoint:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        return service.endpoint_view(await service.update_endpoint(session, runtime.egress, endpoint, data))

    @delete(
        "/{endpoint_id:uuid}", operation_id="DeleteEventEndpoint", summary="Delete an endpoint and its delivery log"
    )
    async def remove(self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
        await service.delete_endpoint(session, await service.get_endpoint(session, tenant_id, endpoint_id))

    @post(
        "/{endpoint_id:uuid}/enable", operation_id="EnableEventEndpoint", summary="Enable an endpoint", status_code=200
    )
    async def enable(
        self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> schemas.EventEndpoint:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        return service.endpoint_view(await service.set_enabled(session, endpoint, True))

    @post(
        "/{endpoint_id:uuid}/disable",
        operation_id="DisableEventEndpoint",
        summary="Stop sending to an endpoint",
        status_code=200,
    )
    async def disable(
        self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> schemas.EventEndpoint:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        return service.endpoint_view(await service.set_enabled(session, endpoint, False))

    @post(
        "/{endpoint_id:uuid}/rotate",
        operation_id="RotateEventEndpointSecret",
        summary="Rotate the signing secret; both sign during the grace period",
        status_code=200,
    )
    async def rotate(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        runtime: Runtime,
        data: schemas.EventSecretRotation | None = None,
    ) -> schemas.EventSecretRotated:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        grace = (data or schemas.EventSecretRotation()).grace_seconds
        secret, until = await service.rotate_secret(session, runtime.cipher, endpoint, grace_seconds=grace)
        return schemas.EventSecretRotated(endpoint_id=endpoint_id, secret=secret, previous_valid_until=until)

    @post(
        "/{endpoint_id:uuid}/test",
        operation_id="TestEventEndpoint",
        summary="Send a ping to this endpoint",
        status_code=202,
    )
    async def test(self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> schemas.EventMessage:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        event_id = await service.send_ping(session, endpoint)
        event = await messages.get_event(session, tenant_id, event_id)
        return messages.message_view(event, (await messages.deliveries_of(session, [event_id]))[event_id])

    @post(
        "/{endpoint_id:uuid}/recover",
        operation_id="RecoverEventEndpoint",
        summary="Send again every failed event to this endpoint since a time",
        status_code=202,
    )
    async def recover(
        self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, data: schemas.EndpointRecover
    ) -> schemas.EndpointRecovered:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        count = await messages.recover(session, endpoint, since=data.since, until=data.until)
        return schemas.EndpointRecovered(endpoint_id=endpoint_id, recovered=count)

    @get(
        "/{endpoint_id:uuid}/attempts",
        operation_id="ListEventEndpointAttempts",
        summary="Attempts to this endpoint, newest first",
    )
    async def attempts(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        page: PageParams,
        succeeded: bool | None = None,
    ) -> schemas.DeliveryAttemptPage:
        await service.get_endpoint(session, tenant_id, endpoint_id)
        rows, next_cursor = await messages.list_attempts(
            session, tenant_id, page, endpoint_id=endpoint_id, succeeded=succeeded
        )
        return schemas.DeliveryAttemptPage(items=[messages.attempt_view(a) for a in rows], next_cursor=next_cursor)


class EventMessageController(Controller):
    path = "/v1/event-messages"
    tags = ["Events"]

    @get("/", operation_id="ListEventMessages", summary="Events sent, with their status per endpoint")
    async def list(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        event_type: TypeFilter = None,
        status: schemas.DeliveryStatus | None = None,
        endpoint_id: uuid.UUID | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        order: Literal["newest", "oldest"] = "newest",
    ) -> schemas.EventMessagePage:
        """`status` and `endpoint_id` keep events with a delivery in that status or to that
        endpoint. To follow new events, ask `order=oldest` with `created_from`."""
        rows, next_cursor = await messages.list_events(
            session,
            tenant_id,
            page,
            event_type=event_type,
            status=status,
            endpoint_id=endpoint_id,
            created_from=created_from,
            created_to=created_to,
            oldest_first=order == "oldest",
        )
        deliveries = await messages.deliveries_of(session, [e.id for e in rows])
        return schemas.EventMessagePage(
            items=[messages.message_view(e, deliveries[e.id]) for e in rows], next_cursor=next_cursor
        )

    @get("/{event_id:uuid}", operation_id="GetEventMessage", summary="An event with its body and deliveries")
    async def detail(
        self, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID
    ) -> schemas.EventMessageDetail:
        event = await messages.get_event(session, tenant_id, event_id)
        base = messages.message_view(event, (await messages.deliveries_of(session, [event_id]))[event_id])
        return schemas.EventMessageDetail(
            **{f: getattr(base, f) for f in base.__struct_fields__}, payload=messages.payload_of(event)
        )

    @get(
        "/{event_id:uuid}/attempts",
        operation_id="ListEventMessageAttempts",
        summary="Attempts for one event, newest first",
    )
    async def attempts(
        self, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID, page: PageParams
    ) -> schemas.DeliveryAttemptPage:
        await messages.get_event(session, tenant_id, event_id)
        rows, next_cursor = await messages.list_attempts(session, tenant_id, page, event_id=event_id)
        return schemas.DeliveryAttemptPage(items=[messages.attempt_view(a) for a in rows], next_cursor=next_cursor)

    @post(
        "/{event_id:uuid}/retry", operation_id="RetryEventMessage", summary="Send an event again now", status_code=202
    )
    async def retry(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        event_id: uuid.UUID,
        data: schemas.MessageRetry | None = None,
    ) -> schemas.MessageRetried:
        """Every failed delivery of the event, or one endpoint's (also one that never had it)."""
        event = await messages.get_event(session, tenant_id, event_id)
        endpoint_id = (data or schemas.MessageRetry()).endpoint_id
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id) if endpoint_id else None
        count = await messages.retry_event(session, event, endpoint)
        return schemas.MessageRetried(event_id=event_id, deliveries=count)
