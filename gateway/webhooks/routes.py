from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, cast

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import FieldError, problem_response
from gateway.pagination import PageParams
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.webhooks import schemas, service
from gateway.webhooks.events import EVENT_TYPES, EventEnvelope
from gateway.webhooks.intake import IntakeWriter, Outcome
from gateway.webhooks.models import WebhookEndpoint, WebhookEvent
from gateway.webhooks.schemas import EventStatus


def intake_writer(state: State) -> IntakeWriter:
    if "intake_writer" not in state:
        state.intake_writer = IntakeWriter(state.runtime)
    return state.intake_writer  # type: ignore[no-any-return]


def _endpoint(e: WebhookEndpoint, settings: Settings) -> schemas.WebhookEndpoint:
    return schemas.WebhookEndpoint(
        id=e.id,
        source=e.source,
        description=e.description,
        url=f"{settings.public_url}/v1/webhooks/{e.id}",
        enabled=e.enabled,
        event_types=service.event_types_for(e.source),
        secrets_active=len(e.secrets),
        created_at=e.created_at,
    )


def _event(e: WebhookEvent) -> schemas.WebhookEvent:
    return schemas.WebhookEvent(
        id=e.id,
        endpoint_id=e.endpoint_id,
        source=e.source,
        webhook_id=e.webhook_id,
        type=e.event_type,
        status=cast(EventStatus, e.status),
        received_at=e.received_at,
        processed_at=e.processed_at,
        error=e.error,
        task_id=e.task_id,
    )


INTAKE_DESCRIPTION = (
    "The single intake for partner webhooks (Standard Webhooks). The endpoint decides the source. "
    "Sign `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's `whsec_` secret (HMAC-SHA256; "
    "`svix-*` headers accepted too; 5-minute tolerance). The body is the envelope "
    '`{"type", "timestamp", "data"}`; event types: '
    + "; ".join(f"`{n}` ({', '.join(t.sources)}): {t.description}" for n, t in EVENT_TYPES.items())
    + ". 202: stored durably, will be processed. 200: redelivery of a known webhook-id (original outcome, "
    "not processed again). 401: bad signature or timestamp (nothing stored). 413: body over the limit. "
    "422: payload does not match the event's schema (stored as rejected, not processed)."
)


_HEADER_DOCS = {
    "id": "Unique message id; a redelivery repeats it (deduplicated per endpoint). `svix-id` accepted too.",
    "timestamp": "Unix seconds when signed; more than 5 minutes off is refused. `svix-timestamp` accepted too.",
    "signature": "`v1,<base64 HMAC-SHA256 of {webhook-id}.{webhook-timestamp}.{body}>` with the endpoint's "
    "`whsec_` secret, space-separated for several; any active secret matches. `svix-signature` accepted too.",
}


@post(
    "/v1/webhooks/{endpoint_id:uuid}",
    operation_id="ReceiveWebhook",
    tags=["Webhooks"],
    summary="Receive a partner webhook",
    description=INTAKE_DESCRIPTION,
    status_code=202,
    responses={
        200: ResponseSpec(schemas.Accepted, description="A redelivery of a known webhook-id: its original outcome")
    },
    problems={
        401: "Missing or bad webhook-id/webhook-timestamp/webhook-signature, or a timestamp outside 5 minutes; "
        "nothing is stored.",
        413: "The body is over the size limit; nothing is stored.",
        422: "The payload breaks its event type's schema; stored as rejected, not processed.",
    },
    request_body=EventEnvelope,
)
async def receive_webhook(
    request: Request,  # type: ignore[type-arg]
    endpoint_id: uuid.UUID,
    webhook_id: Annotated[str | None, Parameter(header="webhook-id", description=_HEADER_DOCS["id"])] = None,
    webhook_timestamp: Annotated[
        str | None, Parameter(header="webhook-timestamp", description=_HEADER_DOCS["timestamp"])
    ] = None,
    webhook_signature: Annotated[
        str | None, Parameter(header="webhook-signature", description=_HEADER_DOCS["signature"])
    ] = None,
) -> Response[schemas.Accepted]:
    # The headers are declared for the spec; intake reads them (or their svix-* aliases) itself,
    # so a missing one is its 401, not a 400 here. Deliveries are normally answered ahead of
    # this handler, by gateway/webhooks/direct.py; it serves the requests that one passes on.
    body = await request.body()
    outcome = await intake_writer(request.app.state).receive(endpoint_id, body, request.headers)
    return intake_answer(request, outcome)


def accepted(outcome: Outcome) -> tuple[int, schemas.Accepted]:
    """Status and body of an intake that was not refused: 202, or 200 for a redelivery."""
    body = schemas.Accepted(id=outcome.event_id, status=outcome.status, duplicate=outcome.duplicate)  # type: ignore[arg-type]
    return (200 if outcome.duplicate else 202), body


def intake_answer(request: Request, outcome: Outcome) -> Response[Any]:  # type: ignore[type-arg]
    """The response to a delivery: a 422 problem for a payload stored as rejected, else ``accepted``."""
    if outcome.intake_status == 422 and outcome.problem is not None:
        errors = [FieldError(**e) for e in outcome.problem.get("errors", [])]
        extra = {"event_id": str(outcome.event_id)} | ({"duplicate": True} if outcome.duplicate else {})
        return problem_response(
            request,
            status=422,
            title="Unprocessable content",
            slug="validation",
            detail=outcome.problem["detail"],
            errors=errors,
            extra=extra,
        )
    status, body = accepted(outcome)
    return Response(body, status_code=status)


class WebhookEndpointController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["Webhooks"]

    @post("/", operation_id="CreateWebhookEndpoint", summary="Register an inbound endpoint (secret shown once)")
    async def create(
        self, session: AsyncSession, tenant_id: uuid.UUID, runtime: Runtime, data: schemas.WebhookEndpointCreate
    ) -> schemas.WebhookEndpointCreated:
        endpoint, secret = await service.create_endpoint(
            session, runtime.cipher, tenant_id=tenant_id, source=data.source, description=data.description
        )
        view = _endpoint(endpoint, runtime.settings)
        return schemas.WebhookEndpointCreated(**{f: getattr(view, f) for f in view.__struct_fields__}, secret=secret)

    @get("/", operation_id="ListWebhookEndpoints", summary="List inbound endpoints")
    async def list(
        self, session: AsyncSession, tenant_id: uuid.UUID, page: PageParams, settings: Settings
    ) -> schemas.WebhookEndpointPage:
        rows, next_cursor = await service.list_endpoints(session, tenant_id, page)
        return schemas.WebhookEndpointPage(items=[_endpoint(e, settings) for e in rows], next_cursor=next_cursor)

    @get("/{endpoint_id:uuid}", operation_id="GetWebhookEndpoint", summary="An inbound endpoint")
    async def detail(
        self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, settings: Settings
    ) -> schemas.WebhookEndpoint:
        return _endpoint(await service.get_endpoint(session, tenant_id, endpoint_id), settings)

    @post(
        "/{endpoint_id:uuid}/rotate",
        operation_id="RotateWebhookSecret",
        summary="Rotate the signing secret; the old one stays valid for a grace period",
    )
    async def rotate(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        runtime: Runtime,
        state: State,
        data: schemas.SecretRotation | None = None,
    ) -> schemas.SecretRotated:
        endpoint = await service.get_endpoint(session, tenant_id, endpoint_id)
        grace = (data or schemas.SecretRotation()).grace_seconds
        secret, until = await service.rotate_secret(session, runtime.cipher, endpoint, grace_seconds=grace)
        intake_writer(state).forget(endpoint_id)
        return schemas.SecretRotated(endpoint_id=endpoint_id, secret=secret, previous_valid_until=until)

    @delete(
        "/{endpoint_id:uuid}",
        operation_id="DisableWebhookEndpoint",
        summary="Disable an endpoint (its events are kept)",
    )
    async def disable(self, session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, state: State) -> None:
        await service.disable_endpoint(session, await service.get_endpoint(session, tenant_id, endpoint_id))
        intake_writer(state).forget(endpoint_id)


class WebhookEventController(Controller):
    path = "/v1/webhook-events"
    tags = ["Webhooks"]

    @get("/", operation_id="ListWebhookEvents", summary="Received events, newest first")
    async def list(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        status: EventStatus | None = None,
        source: str | None = None,
        event_type: Annotated[str | None, Parameter(query="type")] = None,
        received_from: datetime | None = None,
        received_to: datetime | None = None,
    ) -> schemas.WebhookEventPage:
        rows, next_cursor = await service.list_events(
            session,
            tenant_id,
            page,
            status=status,
            source=source,
            event_type=event_type,
            received_from=received_from,
            received_to=received_to,
        )
        return schemas.WebhookEventPage(items=[_event(e) for e in rows], next_cursor=next_cursor)

    @get("/{event_id:uuid}", operation_id="GetWebhookEvent", summary="An event with its processing attempts")
    async def detail(
        self, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID, include_payload: bool = False
    ) -> schemas.WebhookEventDetail:
        import msgspec

        event = await service.get_event(session, tenant_id, event_id)
        task = await service.event_task(session, event)
        base = _event(event)
        return schemas.WebhookEventDetail(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            headers={k: v for k, v in event.headers.items() if k != "webhook-signature"},
            processing=schemas.EventAttempt(task.attempt, task.max_attempts, task.status, task.error_code, task.error)
            if task
            else None,
            rejection=event.intake_problem,
            payload=msgspec.json.decode(event.body) if include_payload else None,
        )

    @post(
        "/{event_id:uuid}/replay", operation_id="ReplayWebhookEvent", summary="Process an event again", status_code=202
    )
    async def replay(self, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> schemas.WebhookEvent:
        return _event(await service.replay_event(session, await service.get_event(session, tenant_id, event_id)))

    @post(
        "/replay",
        operation_id="ReplayFailedWebhookEvents",
        summary="Replay every failed event received in a time range",
        status_code=202,
    )
    async def replay_failed(
        self, session: AsyncSession, tenant_id: uuid.UUID, data: schemas.ReplayRequest
    ) -> schemas.ReplayResult:
        ids = await service.replay_failed(
            session, tenant_id, received_from=data.received_from, received_to=data.received_to
        )
        return schemas.ReplayResult(replayed=len(ids), event_ids=ids)
