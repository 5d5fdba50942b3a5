"""The API docs pages (/docs with Scalar, /docs/swagger with Swagger UI), served whole by Ponte.

Customers' networks may have no internet, so nothing here loads from a CDN: the JavaScript
and CSS of both viewers are committed under ``static/`` (from the npm packages
``@scalar/api-reference`` 1.46.4 and ``swagger-ui-dist`` 5.35.0, with their licences) and
served at ``/docs/assets``. Scalar's web fonts are turned off for the same reason.
"""

from __future__ import annotations

from pathlib import Path

from litestar.openapi.plugins import OpenAPIRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

STATIC = Path(__file__).parent / "static"
ASSETS = "/docs/assets"
FAVICON = f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>"


def render_plugins() -> list[OpenAPIRenderPlugin]:
    return [
        ScalarRenderPlugin(
            js_url=f"{ASSETS}/scalar-standalone.js",
            css_url=f"{ASSETS}/scalar.css",
            favicon=FAVICON,
            # No web fonts and no AI agent: both call scalar.com, which a closed network cannot reach.
            options={"withDefaultFonts": False, "hideClientButton": True, "agent": {"disabled": True}},
        ),
        SwaggerRenderPlugin(
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
            favicon=FAVICON,
        ),
    ]


def assets_router() -> ControllerRouterHandler:
    return create_static_files_router(
        path=ASSETS, directories=[STATIC], include_in_schema=False, cache_control=None, name="docs-assets"
    )
