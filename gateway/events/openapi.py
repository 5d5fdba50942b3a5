"""The event catalogue as JSON Schema (``GET /v1/event-types``) and as the OpenAPI 3.1
``webhooks`` section, so consumers generate types for what Ponte sends them."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

from gateway.events.catalogue import EVENT_TYPES, EventType

_STRING = Schema(type=OpenAPIType.STRING)

SIGNATURE_HEADERS = {
    "webhook-id": "The event id: the same on every attempt, so receivers deduplicate on it.",
    "webhook-timestamp": "Unix seconds when this attempt was signed.",
    "webhook-signature": "`v1,<base64 HMAC-SHA256>` of `{webhook-id}.{webhook-timestamp}.{body}`, keyed with "
    "the endpoint's `whsec_` secret; space-separated, one per active secret during a rotation.",
}


def envelope_schema(event: EventType, data: dict[str, Any]) -> dict[str, Any]:
    """The body every delivery of ``event`` carries, with ``data`` as given."""
    return {
        "title": event.name,
        "description": event.description,
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "Stable event id (= webhook-id)"},
            "type": {"type": "string", "const": event.name},
            "version": {"type": "integer", "const": event.version},
            "timestamp": {"type": "string", "format": "date-time"},
            "tenant_id": {"type": "string", "format": "uuid"},
            "data": data,
        },
        "required": ["id", "type", "version", "timestamp", "tenant_id", "data"],
    }


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``$ref``s into ``$defs`` by the definitions (the catalogue has no recursion), so
    each event's schema stands alone in the API answer and in the spec alike."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@cache
def json_schemas() -> dict[str, dict[str, Any]]:
    """One self-contained JSON Schema per event type: the whole body of its deliveries."""
    out = {}
    for name, event in EVENT_TYPES.items():
        data = msgspec.json.schema(event.data)
        defs = data.pop("$defs", {})
        out[name] = envelope_schema(event, _inline(data, defs))
    return out


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", ".").split("."))


def to_openapi(node: Any) -> Schema | Reference:
    """msgspec's JSON Schema (a dict) as Litestar's OpenAPI ``Schema`` objects."""
    if "$ref" in node:
        return Reference(ref=node["$ref"])
    kinds = node.get("type")
    return Schema(
        type=[OpenAPIType(k) for k in kinds] if isinstance(kinds, list) else OpenAPIType(kinds) if kinds else None,
        title=node.get("title"),
        description=node.get("description"),
        format=node.get("format"),  # type: ignore[arg-type]
        const=node.get("const"),
        enum=node.get("enum"),
        default=node.get("default"),
        required=node.get("required"),
        properties={k: to_openapi(v) for k, v in node["properties"].items()} if "properties" in node else None,
        additional_properties=to_openapi(node["additionalProperties"])
        if isinstance(node.get("additionalProperties"), dict)
        else node.get("additionalProperties"),
        items=to_openapi(node["items"]) if "items" in node else None,
        any_of=[to_openapi(n) for n in node["anyOf"]] if "anyOf" in node else None,
        minimum=node.get("minimum"),
        maximum=node.get("maximum"),
        min_length=node.get("minLength"),
        max_length=node.get("maxLength"),
        pattern=node.get("pattern"),
    )


def openapi_webhooks() -> dict[str, PathItem | Reference]:
    """The spec's ``webhooks`` section: one POST per event type, its body schema inline
    (Litestar rebuilds ``components.schemas`` from the routes, so references would dangle)."""
    webhooks: dict[str, PathItem | Reference] = {}
    for name, schema in json_schemas().items():
        event = EVENT_TYPES[name]
        webhooks[name] = PathItem(
            post=Operation(
                operation_id=f"Event{_camel(name)}",
                summary=event.description,
                tags=["Events"],
                parameters=[
                    Parameter(name=h, param_in="header", required=True, description=d, schema=_STRING)
                    for h, d in SIGNATURE_HEADERS.items()
                ],
                request_body=RequestBody(
                    required=True, content={"application/json": OpenAPIMediaType(schema=to_openapi(schema))}
                ),
                responses={
                    "2XX": OpenAPIResponse(description="Delivered. Anything else (or no answer in 15 s) is retried."),
                    "410": OpenAPIResponse(description="Gone: Ponte disables the endpoint and stops sending."),
                },
            )
        )
    return webhooks
