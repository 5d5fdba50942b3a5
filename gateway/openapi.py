"""The OpenAPI document as committed in ``openapi/openapi.json``."""

from __future__ import annotations

import json

from gateway.app import create_app
from gateway.contract import openapi_document
from gateway.settings import load_settings


def render_spec() -> str:
    # Placeholder URLs: building the app does not connect; only its lifespan would.
    app = create_app(load_settings(database_url="postgresql://spec@localhost/spec", redis_url="redis://localhost:0"))
    return json.dumps(openapi_document(app), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
