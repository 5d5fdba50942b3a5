"""Every operation's request and response bodies carry an example, and each one is valid
against the schema it illustrates (gateway/openapi_examples.py builds them from the types)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from gateway.openapi_examples import example_of

SPEC: dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())
BODIES = [
    (f"{method.upper()} {path} {where}", media)
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if method in {"get", "put", "post", "patch", "delete"}
    for where, content in [
        ("request", op.get("requestBody", {}).get("content", {})),
        *((status, response.get("content", {})) for status, response in op.get("responses", {}).items()),
    ]
    for media_type, media in content.items()
    if "json" in media_type and "schema" in media
]


@pytest.mark.parametrize(("where", "media"), BODIES, ids=[where for where, _ in BODIES])
def test_every_body_has_an_example_valid_against_its_schema(where: str, media: dict[str, Any]) -> None:
    assert "example" in media or "examples" in media, where
    schema = {**media["schema"], "components": SPEC["components"]}
    examples = [media["example"]] if "example" in media else [e["value"] for e in media["examples"].values()]
    validator = jsonschema_rs.Draft202012Validator(schema)
    for example in examples:
        errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(example)]
        assert not errors, f"{where}: {errors}"


def test_examples_prefer_the_types_own_examples_and_stop_at_recursion() -> None:
    schemas = {
        "Node": {
            "type": "object",
            "required": ["child"],
            "properties": {"child": {"$ref": "#/components/schemas/Node"}},
        },
        "Sale": {
            "type": "object",
            "required": ["nsu", "when"],
            "properties": {
                "nsu": {"type": "string", "pattern": "^[0-9]+$", "examples": ["004512"]},
                "when": {"type": "string", "format": "date"},
                "note": {"type": "string", "pattern": "^x+$"},  # optional, no example: left out
            },
        },
    }
    assert example_of({"$ref": "#/components/schemas/Node"}, schemas) == {"child": None}
    assert example_of({"$ref": "#/components/schemas/Sale"}, schemas) == {"nsu": "004512", "when": "2026-07-01"}
