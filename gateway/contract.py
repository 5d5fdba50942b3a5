"""The OpenAPI contract: the problem responses of every operation, derived in one place.

Handlers declare only their success shape; ``derive_contract`` completes the generated
document so it tells the whole truth, and new routes conform without extra work:

- every operation outside ``PUBLIC_PATHS`` (the auth middleware's own list) needs a key:
  401, 403 (wrong kind of key); public ones say ``security: []``;
- a path parameter: 400 (malformed) and 404; a query or header parameter: 400;
- a request body: 400 (not JSON), 413 (too large), 415 (not JSON media type), 422 (schema);
- a POST the idempotency middleware covers: the ``Idempotency-Key`` header, 409 and 422;
- whatever a handler declares itself: ``@post(..., problems=[502, 503])`` for a synchronous
  partner call, or ``problems={401: "why"}`` to say why (Litestar keeps unknown keyword
  arguments in ``handler.opt``);
- whatever a rule added with ``add_problem_rule`` returns for an operation, e.g. 429 for the
  operations a rate limit covers: ``add_problem_rule(lambda op: {429} if op.secured else ())``.

Every such status is answered with the one ``Problem`` schema as ``application/problem+json``
(gateway/errors.py produces it). ``request_body=T`` in a handler's opt documents a body the
handler reads raw (the webhook intake). A text body a handler streams is a ``string``. Tags get
the descriptions in ``TAGS``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from gateway.errors import PROBLEM_MEDIA_TYPE, TITLES, Problem
from gateway.idempotency.middleware import IdempotencyKey, IdempotencyMiddleware
from gateway.openapi_examples import add_examples
from gateway.tenants.auth import PUBLIC_PATHS

TAGS: dict[str, str] = {
    "Tenants": "Tenants and their API keys (operator key), and the caller's own tenant.",
    "Tasks": "Every piece of background work, with status, progress and counters; cancel.",
    "Webhooks": "Inbound partner webhooks: endpoints and secrets, the signed intake, received events, replay.",
    "Insurer imports": "Insurer catalogue, connections, import tasks with per-record results, imported policies.",
    "Portal syncs": "Health-plan portal synchronisations: core-system connection, catalogue, runs, schedules.",
    "Portal requests": "Requests made in the portal, exported to the core system, with their situation.",
    "Portal data": "Read API over the synchronised portal data: beneficiaries, providers, statements, records.",
    "Documents": "Document delivery to the client portal: templates, destinations, deliveries, failures.",
    "Card reconciliation": "Card-sales reconciliation with Boavista: sales, runs, remittances, divergences.",
    "Events": "Outbound events to the tenant's systems: catalogue, endpoints and secrets, messages, attempts, retry.",
    "Operations": "Health and benchmark endpoints for load balancers and operators (public).",
}

_DESCRIPTIONS = {
    400: "The request is malformed: a parameter or the body could not be read.",
    401: "No API key, or an unknown or revoked one.",
    403: "The key is of the wrong kind for this operation (tenant versus operator).",
    404: "No such resource for this tenant.",
    409: "Conflict with the resource's state, or the same Idempotency-Key is still in flight.",
    413: "The body is over the size limit.",
    415: "The body is not JSON.",
    422: "The body breaks the schema (see errors[]), or an Idempotency-Key was reused with another body.",
    429: "Too many requests; retry after the number of seconds in Retry-After.",
    502: "A partner called during the request gave an answer that could not be used.",
    503: "A partner or a backing service did not answer; try again later.",
}


# For ``problems=`` on a handler that calls a partner while the client waits.
PARTNER_PROBLEMS = {
    502: "The partner answered something that could not be used.",
    503: "The partner did not answer in time or could not be reached; try again later.",
}


@dataclass(frozen=True)
class OperationInfo:
    """What a problem rule sees of one operation."""

    path: str
    method: str  # upper case
    handler: HTTPRouteHandler
    operation: dict[str, Any]  # the generated OpenAPI operation
    secured: bool


ProblemRule = Callable[[OperationInfo], Iterable[int]]
_RULES: list[ProblemRule] = []


def add_problem_rule(rule: ProblemRule) -> None:
    """Register ``rule``; the statuses it returns for an operation are documented as problems."""
    _RULES.append(rule)


def is_public(path: str) -> bool:
    return any(re.match(pattern, path) for pattern in PUBLIC_PATHS)


def _schema_components(types: Iterable[Any]) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
    return msgspec.json.schema_components(list(types), ref_template="#/components/schemas/{name}")


def _problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or _DESCRIPTIONS.get(status, TITLES.get(status, ("Error", ""))[0]),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 0}},
            "RateLimit-Limit": {"description": "The budget of the window", "schema": {"type": "integer"}},
            "RateLimit-Remaining": {"description": "What is left of it: 0", "schema": {"type": "integer"}},
            "RateLimit-Reset": {"description": "Seconds until the window closes", "schema": {"type": "integer"}},
        }
    return response


def _idempotency_parameter() -> dict[str, Any]:
    (schema,), _ = _schema_components([IdempotencyKey])
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Repeat a POST safely: the same key and body give the original response for 24 h.",
        "schema": schema,
    }


def _handlers(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    found: dict[tuple[str, str], HTTPRouteHandler] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in route.route_handler_map.items():
                found[(route.path_format or "/", method)] = handler
    return found


def _statuses(info: OperationInfo) -> set[int]:
    op, statuses = info.operation, set()
    if info.secured:
        statuses |= {401, 403}
    locations = {p.get("in") for p in op.get("parameters", [])}
    if "path" in locations:
        statuses |= {400, 404}
    if locations & {"query", "header"}:
        statuses.add(400)
    if "requestBody" in op:
        statuses |= {400, 413, 415, 422}
    statuses.update(info.handler.opt.get("problems", ()))
    for rule in _RULES:
        statuses.update(rule(info))
    return statuses


def _idempotent(path: str, method: str) -> bool:
    return method == "POST" and not any(re.match(p, path) for p in IdempotencyMiddleware.exclude)


def _complete_operation(info: OperationInfo, components: dict[str, Any]) -> None:
    op = info.operation
    if not info.secured:
        op["security"] = []
    body_type = info.handler.opt.get("request_body")
    if body_type is not None:
        (schema,), defs = _schema_components([body_type])
        _mark_datetimes(defs, [body_type])
        components.update(defs)
        if "discriminator" in schema and "anyOf" in schema:  # exactly one member matches its tag
            schema["oneOf"] = schema.pop("anyOf")
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if _idempotent(info.path, info.method):
        op.setdefault("parameters", []).append(_idempotency_parameter())
    statuses = _statuses(info)
    if info.method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses.add(409)  # a write can conflict with the resource's current state
    if _idempotent(info.path, info.method):
        statuses |= {409, 422}
    responses: dict[str, Any] = op.setdefault("responses", {})
    # A streamed body (``-> Stream``) gets an empty schema from Litestar, which a generated client
    # types as ``unknown``; a text media type is a string whether streamed or not.
    for response in responses.values():
        for media_type, content in response.get("content", {}).items():
            if media_type.startswith("text/") and not content.get("schema"):
                content["schema"] = {"type": "string"}
    # Litestar's own 400 describes its validation error shape, not ours: ours replaces it. A
    # response the handler declared itself (``responses=``) stays as declared.
    if "400" in responses and "Problem" not in str(responses["400"]):
        del responses["400"]
    declared = info.handler.opt.get("problems")
    descriptions: dict[int, str] = declared if isinstance(declared, dict) else {}
    for status in sorted(statuses):
        responses.setdefault(str(status), _problem_response(status, descriptions.get(status)))


def _walk_structs(info: Any, seen: dict[str, Any]) -> None:
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls.__name__ in seen:
            return
        seen[info.cls.__name__] = info
        for f in info.fields:
            _walk_structs(f.type, seen)
    for attr in ("types", "item_type", "key_type", "value_type", "item_types"):
        inner = getattr(info, attr, None)
        for item in inner if isinstance(inner, tuple) else [inner] if inner is not None else []:
            _walk_structs(item, seen)


def _mark_datetimes(defs: dict[str, Any], types: list[Any]) -> None:
    """msgspec also takes a date-time without an offset, so it claims no ``format``; Litestar's
    own schemas say ``date-time`` for the same fields, and so do these."""
    structs: dict[str, Any] = {}
    for info in msgspec.inspect.multi_type_info(types):
        _walk_structs(info, structs)
    for name, info in structs.items():
        for f in info.fields:
            members = f.type.types if isinstance(f.type, msgspec.inspect.UnionType) else (f.type,)
            if not any(isinstance(m, msgspec.inspect.DateTimeType) for m in members):
                continue
            prop = defs.get(name, {}).get("properties", {}).get(f.encode_name, {})
            for member in prop.get("anyOf", [prop]):
                if member.get("type") == "string":
                    member["format"] = "date-time"


def _body_schemas(
    components: dict[str, Any], handlers: Iterable[HTTPRouteHandler]
) -> dict[int, tuple[dict[str, Any], bool]]:
    """Request bodies described by msgspec, the library that validates them, so the schema says
    what is enforced (nested constraints, ``forbid_unknown_fields``, tags). Struct components of
    the same name are replaced; returns each handler's body schema, and whether the body is
    required, by ``id(handler)`` (valid while ``handlers`` are alive: this app's, this call)."""
    typed = [
        (handler, data.annotation)
        for handler in handlers
        if (data := handler.parsed_fn_signature.parameters.get("data")) is not None
    ]
    if not typed:
        return {}
    schemas, defs = _schema_components(annotation for _, annotation in typed)
    _mark_datetimes(defs, [annotation for _, annotation in typed])
    components.update(defs)
    return {
        id(handler): (schema, not handler.parsed_fn_signature.parameters["data"].has_default)
        for (handler, _), schema in zip(typed, schemas, strict=True)
    }


def derive_contract(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    """The generated ``document`` completed as the module docstring says (a new dict)."""
    doc = copy.deepcopy(document)
    components: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    _, problem_defs = _schema_components([Problem])
    components.update(problem_defs)
    handlers = _handlers(app)
    body_schemas = _body_schemas(components, handlers.values())
    used_tags: set[str] = set()
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            handler = handlers.get((path, method.upper()))
            if handler is None or not isinstance(op, dict) or "responses" not in op:
                continue
            used_tags.update(op.get("tags", []))
            info = OperationInfo(path, method.upper(), handler, op, secured=not is_public(path))
            if id(handler) in body_schemas and "requestBody" in op:
                schema, required = body_schemas[id(handler)]
                op["requestBody"]["content"]["application/json"]["schema"] = schema
                op["requestBody"]["required"] = required
            _complete_operation(info, components)
    known = [{"name": name, "description": text} for name, text in TAGS.items() if name in used_tags]
    doc["tags"] = known + [{"name": name} for name in sorted(used_tags - TAGS.keys())]
    doc["components"]["schemas"] = dict(sorted(components.items()))
    return add_examples(doc)


class _ContractOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, serving the derived document (built lazily, then cached)."""

    __slots__ = ()

    def provide_openapi_schema(self) -> dict[str, Any]:
        if not self._openapi_schema:
            self._openapi_schema = derive_contract(self.app, self.provide_openapi().to_schema())
        return self._openapi_schema


def install(app: Litestar) -> None:
    """Make ``app`` serve (and ``openapi_document`` return) the derived contract."""
    app.plugins.get(OpenAPIPlugin).__class__ = _ContractOpenAPIPlugin


def openapi_document(app: Litestar) -> dict[str, Any]:
    return app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
