"""Request and response examples for every operation, built from the schemas themselves.

The docs pages show them and "try it" starts from them, so each is a whole, valid body rather
than a skeleton of ``"string"``. A value comes, in order, from the schema's own ``examples``
(``msgspec.Meta(examples=[...])`` on the type that validates it), its ``const``, ``enum`` or
non-null ``default``, a realistic value for its ``format``, then one for the member's name in
``_BY_NAME``, then its type. Nothing is hand-written per operation, so the examples cannot
drift from the types; ``tests/contract`` checks each one against its schema.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

_BY_FORMAT: dict[str, Any] = {
    "uuid": "5f0c8a4e-6b1d-4c2a-9e57-1a2b3c4d5e6f",
    "date-time": "2026-07-01T09:30:00Z",
    "date": "2026-07-01",
    "time": "06:00:00",
    "duration": "PT5M",
    "email": "ana.souza@example.com",
    "uri": "https://partner.example.com/ponte/events",
    "url": "https://partner.example.com/ponte/events",
}

# Real-looking values for common member names, used when the schema gives none.
_BY_NAME: dict[str, Any] = {
    "name": "Corretora Atlântico",
    "slug": "atlantico",
    "description": "Produção diária",
    "insurer": "allianz",
    "policy_number": "AZ-2026-004521",
    "receipt_number": "R-2026-118733",
    "holder_tax_id": "267725817",
    "tax_id": "267725817",
    "client_id": "cli-1",
    "template": "DAS",
    "file_name": "DAS Janeiro.pdf",
    "currency": "BRL",
    "timezone": "America/Sao_Paulo",
    "token": "ptk_demo",
    "username": "corretora",
    "password": "••••••",
    "insurer_name": "Allianz Portugal",
    "sale_id": "V-2026-000123",
    "brand": "visa",
    "error": "policy_number is missing",
    "detail": "The period ends in the future.",
    "next_cursor": None,
    "type": "urn:ponte:problem:validation",
    "title": "Unprocessable content",
    "instance": "urn:ponte:request:7d1f0c2a9b8e4f61",
    "pointer": "/period/to",
    "source": "body",
    "cursor": None,
}


def add_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Give every JSON request body and response of ``document`` an ``example`` (in place)."""
    schemas = document.get("components", {}).get("schemas", {})
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            contents = [("", operation.get("requestBody", {}).get("content", {}))]
            contents += [
                (code, response.get("content", {})) for code, response in operation.get("responses", {}).items()
            ]
            for code, content in contents:
                for media_type, media in content.items():
                    if "json" in media_type and "schema" in media and not {"example", "examples"} & media.keys():
                        example = example_of(media["schema"], schemas)
                        if media_type.endswith("problem+json") and isinstance(example, dict) and code.isdigit():
                            _fit_problem(example, int(code))
                        media["example"] = example
    return document


def _fit_problem(problem: dict[str, Any], status: int) -> None:
    """A problem example says the status of the response it documents."""
    problem["status"] = status
    problem["title"] = HTTPStatus(status).phrase
    if status not in (400, 422):
        problem.pop("errors", None)
        problem["detail"] = f"{HTTPStatus(status).description}."
        problem["type"] = "urn:ponte:problem:" + HTTPStatus(status).phrase.lower().replace(" ", "-")


def example_of(schema: dict[str, Any], schemas: dict[str, Any], name: str = "", seen: tuple[str, ...] = ()) -> Any:
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        if ref in seen:  # a recursive schema: stop where a real document would
            return None
        return example_of(schemas[ref], schemas, name, (*seen, ref))
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("default") is not None:
        return schema["default"]
    for union in ("oneOf", "anyOf"):
        if union in schema:
            branches = [b for b in schema[union] if b.get("type") != "null"] or schema[union]
            return example_of(branches[0], schemas, name, seen)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_of(part, schemas, name, seen)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", ()))
        return {
            member: example_of(sub, schemas, member, seen)
            for member, sub in schema.get("properties", {}).items()
            if member in required or _known(sub, schemas, member)
        }
    if kind == "array":
        item = example_of(schema.get("items", {}), schemas, name.removesuffix("s"), seen)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return _number(schema, 12990 if name.endswith(("cents", "amount")) else 1)
    if kind == "number":
        return float(_number(schema, 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _BY_NAME.get(name)


def _known(schema: dict[str, Any], schemas: dict[str, Any], name: str) -> bool:
    """Whether an optional member's example would be more than a guess (a guess is left out:
    an invented value could break a pattern the member has)."""
    if "$ref" in schema:
        return True
    if {"examples", "example", "const", "enum", "format"} & schema.keys() or schema.get("default") is not None:
        return True
    if any(
        _known(b, schemas, name) for b in schema.get("oneOf", []) + schema.get("anyOf", []) if b.get("type") != "null"
    ):
        return True
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind}
    return bool(kinds & {"object", "array", "boolean", "integer", "number"}) or (
        name in _BY_NAME and "pattern" not in schema
    )


def _string(schema: dict[str, Any], name: str) -> Any:
    if schema.get("format") in _BY_FORMAT:
        return _BY_FORMAT[schema["format"]]
    value = _BY_NAME.get(name)
    if not isinstance(value, str):
        value = name.replace("_", "-") or "text"
    if len(value) > schema.get("maxLength", len(value)):
        value = value[: schema["maxLength"]]
    return value.ljust(schema.get("minLength", 0), "x")


def _number(schema: dict[str, Any], preferred: int) -> int:
    low = schema.get("minimum", schema.get("exclusiveMinimum", preferred - 1) + 1)
    high = schema.get("maximum", schema.get("exclusiveMaximum", preferred + 1) - 1)
    return int(min(max(preferred, low), high))
