"""The intake's one-pass check of a delivery gives what the envelope-then-data parse gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import BadRequest
from gateway.webhooks import intake
from tests.webhooks.support import task_completed

TASK = json.dumps(task_completed(documents=3))
RETURNED = json.dumps(
    {
        "establishment_code": "1020304050",
        "remittance_id": "R-1",
        "returned_at": "2026-12-01T12:00:00+00:00",
        "items": [{"sale_id": "S-1", "status": "matched"}],
    }
)
RECEIPT = json.dumps(
    {
        "insurer": "axa",
        "policy_number": "P-1",
        "receipt_number": "R-1",
        "status": "paid",
        "changed_at": "2026-12-01",
        "as_of": "2026-12-01T12:00:00Z",
    }
)
BAD_TASK = json.dumps({"task_id": "T-9"})

BODIES = [
    f'{{"type":"task.completed","timestamp":"2026-12-01T12:00:00Z","data":{TASK}}}',
    f'{{"data":{TASK},"extra":[1,2],"type":"task.completed"}}',  # tag last, unknown member
    f'{{"type":"task.completed","timestamp":null,"data":{TASK}}}',
    f'{{"type":"task.completed","timestamp":1733054400,"data":{TASK}}}',
    f'{{"type":"task.completed","data":{TASK},"type":"other"}}',  # the last "type" is the one read
    f'{{"type":"other","data":{TASK},"type":"task.completed"}}',
    f'{{"type":"task.completed","data":{BAD_TASK},"data":{TASK}}}',
    f'{{"type":"task.completed","data":{TASK},"data":{BAD_TASK}}}',
    f'{{"type":"task.completed","data":{BAD_TASK}}}',
    f'{{"type":"remittance.returned","data":{RETURNED}}}',  # another source's type
    f'{{"type":"receipt.status_changed","data":{RECEIPT}}}',
    f'{{"type":"policy.upserted","data":{RECEIPT}}}',
    '{"type":"nope","data":{}}',
    '{"type":5,"data":{}}',
    '{"type":"task.completed"}',
    '{"data":{}}',
    '["task.completed"]',
    '"task.completed"',
    f'{{"type":"task.completed","data":{TASK}}} trailing',
    '{"type":"task.completed","data":',
]
SOURCES = ["task-system", "boavista", "insurer:axa", "mail"]


def outcome(body: bytes, source: str) -> Any:
    try:
        return intake.validate_payload(body, source)
    except BadRequest as exc:
        return ("BadRequest", str(exc))


@pytest.mark.parametrize("source", SOURCES)
def test_one_pass_agrees_with_the_two_step_parse(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [body.encode() for body in BODIES]
    one_pass = [outcome(body, source) for body in bodies]
    monkeypatch.setattr(intake, "_ENVELOPES", {intake.source_family(source): None})  # the two steps alone
    assert one_pass == [outcome(body, source) for body in bodies]
    accepted = [result for result in one_pass if isinstance(result, tuple) and result[1] is None]
    assert len(accepted) == {"task-system": 5, "boavista": 1, "insurer:axa": 2, "mail": 0}[source]
