"""create_app(): plugins, routers, exception handlers — nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

from gateway import __version__, apidocs, contract
from gateway.console import ConsolePlugin
from gateway.deps import dependencies, resolve_dependencies_in_order
from gateway.direct import in_front
from gateway.documents.routes import (
    DocumentDeliveryController,
    DocumentPortalController,
    DocumentTemplateController,
)
from gateway.errors import exception_handlers
from gateway.events.openapi import openapi_webhooks
from gateway.events.routes import EventEndpointController, EventMessageController, list_event_types
from gateway.health.routes import live, ping, ready
from gateway.idempotency.middleware import IdempotencyMiddleware
from gateway.imports.portfolio import PolicyController
from gateway.imports.routes import ConnectionController, ImportController, ImportPreviewController, InsurerController
from gateway.inputs import check_request
from gateway.observability import MetricsController, configure_logging, observe_requests
from gateway.portal.record_routes import PortalDataController
from gateway.portal.routes import (
    CoreSystemConnectionController,
    PortalRequestController,
    SyncController,
    SyncRunController,
)
from gateway.ratelimit import rate_limit
from gateway.reconciliation.routes import ReconciliationController
from gateway.runtime import Runtime
from gateway.server import settle_heap
from gateway.settings import Settings, get_settings
from gateway.tasks.direct import DirectTaskRead
from gateway.tasks.routes import TaskController
from gateway.tenants.auth import PUBLIC_PATHS, ApiKeyAuthentication, KeyCache
from gateway.tenants.routes import TenantController, current_tenant
from gateway.webhooks.direct import DirectIntake
from gateway.webhooks.routes import WebhookEndpointController, WebhookEventController, receive_webhook

# Health, metrics and the docs' assets: public, answered without the API's middleware (nothing
# to authenticate, rate-limit or replay), so a load balancer's probe costs only the framework.
OPERATIONS: list[ControllerRouterHandler] = [live, ready, ping, MetricsController, apidocs.assets_router()]

API: list[ControllerRouterHandler] = [
    TenantController,
    current_tenant,
    TaskController,
    CoreSystemConnectionController,
    SyncController,
    SyncRunController,
    PortalRequestController,
    PortalDataController,
    DocumentTemplateController,
    DocumentPortalController,
    DocumentDeliveryController,
    receive_webhook,
    WebhookEndpointController,
    WebhookEventController,
    InsurerController,
    ConnectionController,
    ImportController,
    ImportPreviewController,
    PolicyController,
    ReconciliationController,
    list_event_types,
    EventEndpointController,
    EventMessageController,
]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Ponte",
        version=__version__,
        description=(
            "Integration gateway: insurer portfolio imports, health-plan portal synchronisations, "
            "document delivery to the client portal and card-sales reconciliation. Errors are RFC 9457 "
            "`application/problem+json`; lists are cursor-paginated; POSTs that start work accept "
            "`Idempotency-Key`."
        ),
        path="/docs",
        render_plugins=apidocs.render_plugins(),
        components=Components(
            security_schemes={
                "ApiKey": SecurityScheme(type="http", scheme="bearer", description="Tenant or operator API key")
            }
        ),
        webhooks=openapi_webhooks(),  # the outbound events Ponte sends
        security=[{"ApiKey": []}],
        use_handler_docstrings=True,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    resolve_dependencies_in_order()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, name="ponte api")
        app.state.update(runtime=runtime, db=runtime.db, queue=runtime.queue, cipher=runtime.cipher, http=runtime.http)
        settle_heap()
        try:
            yield
        finally:
            await runtime.close()

    app = Litestar(
        route_handlers=[
            *OPERATIONS,
            Router(
                path="/",
                route_handlers=API,
                middleware=[
                    DefineMiddleware(ApiKeyAuthentication, exclude=PUBLIC_PATHS),
                    rate_limit,
                    IdempotencyMiddleware,
                ],
                before_request=check_request,
            ),
        ],
        dependencies=dependencies,
        exception_handlers=exception_handlers,
        lifespan=[lifespan],
        state=State({"settings": settings, "key_cache": KeyCache(settings.api_key_cache_seconds)}),
        openapi_config=openapi_config(),
        plugins=[ConsolePlugin(settings)],
        request_max_body_size=settings.max_body_bytes,
    )
    contract.install(app)
    # Outside Litestar's app-level exception handler, so problems raised by middleware and the
    # router (401, 404, ...) get their X-Request-ID and are logged with the status really sent.
    # Inside it, webhook deliveries and reads of one task are answered without Litestar's
    # routing (gateway/direct.py).
    routed = app.asgi_handler
    direct = {("POST", "/v1/webhooks/"): DirectIntake(app, routed), ("GET", "/v1/tasks/"): DirectTaskRead(app, routed)}
    app.asgi_handler = observe_requests(in_front(routed, direct))
    return app
