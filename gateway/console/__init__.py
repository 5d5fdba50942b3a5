"""The operator console at ``/console``: server-rendered pages with HTMX, on the API's services.

One module per screen calls the same domain services as the ``/v1`` routes (no SQL and no
business rule here or in the templates). Pages are outside the OpenAPI schema and outside the
API-key middleware: the console has its own server-side sessions and CSRF (``session.py``).
Every asset is served by Ponte from ``static/``, never from a CDN: ``htmx.min.js`` is htmx.org
2.0.11 (0BSD) taken unchanged from the npm registry package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins import InitPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig

from gateway import inputs
from gateway.console import (
    documents,
    imports,
    outbound,
    overview,
    pages,
    portal,
    reconciliation,
    session,
    signin,
    tasks,
    webhooks,
)
from gateway.settings import Settings

HERE = Path(__file__).parent


async def _console_request(request: Any) -> None:
    """The API's ``check_request`` minus its JSON-only body rule: console forms are url-encoded.
    Parameters get the same check (no NUL or lone surrogate reaches the database)."""
    if request.path_params or request.scope.get("query_string"):
        inputs.check_parameters(request)


async def _register_session_store(app: Litestar) -> None:
    # The queue's Valkey connection, opened by the app's lifespan (which runs before this hook).
    app.stores.register(
        session.STORE_NAME, RedisStore(app.state.queue.redis, namespace="ponte:console"), allow_override=True
    )


class ConsolePlugin(InitPlugin):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        common: dict[str, Any] = {
            "middleware": [
                session.session_config(self.settings).middleware,
                DefineMiddleware(CSRFMiddleware, config=session.csrf_config(self.settings)),
            ],
            "dependencies": {
                "ui": Provide(pages.provide_ui),
                "tenant_id": Provide(pages.provide_console_tenant, sync_to_thread=False),
            },
            "exception_handlers": pages.exception_handlers,
            "include_in_schema": False,
            "before_request": _console_request,
        }
        app_config.route_handlers += [
            Router(path="/", route_handlers=[signin.SignInController], **common),
            Router(
                path="/",
                route_handlers=[
                    overview.overview,
                    imports.ImportPages,
                    portal.PortalPages,
                    documents.DocumentPages,
                    reconciliation.ReconciliationPages,
                    webhooks.WebhookPages,
                    outbound.OutboundPages,
                    tasks.TaskPages,
                ],
                guards=[session.require_user],
                **common,
            ),
            create_static_files_router(
                path="/console/static", directories=[HERE / "static"], include_in_schema=False, name="console:static"
            ),
        ]
        if app_config.template_config is not None:
            raise RuntimeError("the console owns the app's template config")
        app_config.template_config = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
        app_config.on_startup.append(_register_session_store)
        return app_config
