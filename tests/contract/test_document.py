"""The committed spec documents every problem, security and tag (gateway/contract.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.contract import TAGS, add_problem_rule, derive_contract

SPEC: dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
OPERATIONS = [
    (path, method, op)
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if method in {"get", "put", "post", "patch", "delete"}
]


def test_one_problem_schema_with_field_errors() -> None:
    problem = SPEC["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    field_error = SPEC["components"]["schemas"]["FieldError"]
    assert set(field_error["properties"]) == {"pointer", "detail", "source"}


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_every_operation_documents_its_problems(path: str, method: str, op: dict[str, Any]) -> None:
    responses = op["responses"]
    for status, response in responses.items():
        if int(status) >= 400 and "application/json" not in response.get("content", {}):
            assert response["content"].keys() == {"application/problem+json"}, status
            assert response["content"]["application/problem+json"]["schema"] == PROBLEM_REF, status
    public = op.get("security") == []
    if not public:
        assert {"401", "403"} <= responses.keys()
    if "{" in path:
        assert "404" in responses
    if "requestBody" in op:
        assert {"400", "413", "415", "422"} <= responses.keys()
    if method == "post" and not path.startswith("/v1/webhooks/"):
        assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])
        assert {"409", "422"} <= responses.keys()
    assert op["summary"] and op["tags"] and op["operationId"]


def test_public_operations_say_so() -> None:
    for path in ("/health/live", "/health/ready", "/ping", "/v1/webhooks/{endpoint_id}"):
        for op in SPEC["paths"][path].values():
            assert op["security"] == []
    assert SPEC["security"] == [{"ApiKey": []}]


def test_tags_are_described_and_schema_names_are_plain() -> None:
    described = {t["name"]: t.get("description") for t in SPEC["tags"]}
    assert all(described.values()), "add the tag's description to gateway.contract.TAGS"
    assert {tag for _, _, op in OPERATIONS for tag in op["tags"]} == set(described)
    assert set(described) <= set(TAGS)
    names = SPEC["components"]["schemas"]
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) for name in names), sorted(names)
    assert set(names["Money"]["properties"]) == {"amount_cents", "currency"}


def test_a_problem_rule_adds_its_status_where_it_applies(app) -> None:
    def rate_limited(op: Any) -> set[int]:
        return {429} if op.secured else set()

    add_problem_rule(rate_limited)
    try:
        doc = derive_contract(app, app.openapi_schema.to_schema())
    finally:
        from gateway import contract

        contract._RULES.remove(rate_limited)
    assert "Retry-After" in doc["paths"]["/v1/tasks"]["get"]["responses"]["429"]["headers"]
    assert "429" not in doc["paths"]["/health/live"]["get"]["responses"]


async def test_the_served_spec_is_the_committed_one(client) -> None:
    assert (await client.get("/docs/openapi.json")).json() == SPEC
