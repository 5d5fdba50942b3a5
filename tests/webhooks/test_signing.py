"""Signature checks on the edges of the webhook-timestamp."""

from __future__ import annotations

import pytest

from gateway.webhooks import signing
from tests.webhooks.support import create_endpoint, envelope, task_completed

BODY = b'{"type": "task.completed", "data": {}}'


def test_a_timestamp_no_float_holds_is_outside_the_tolerance() -> None:
    # 400 digits parse as an int; subtracting it from time.time() overflowed (a 500 at intake).
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "9" * 400, "webhook-signature": "v1,abc"}
    with pytest.raises(signing.SignatureError, match="outside the accepted tolerance"):
        signing.verify(BODY, headers, signing.verifiers([signing.new_secret()]), tolerance_seconds=300)


async def test_a_timestamp_no_float_holds_is_401_not_500(client, tenants) -> None:  # type: ignore[no-untyped-def]
    t = await tenants.create()
    ep = await create_endpoint(client, t.headers)
    headers = {"content-type": "application/json", "webhook-id": "msg_1", "webhook-timestamp": "9" * 400}
    r = await client.post(
        f"/v1/webhooks/{ep['id']}",
        content=envelope("task.completed", task_completed()),
        headers=headers | {"webhook-signature": "v1,abc"},
    )
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
