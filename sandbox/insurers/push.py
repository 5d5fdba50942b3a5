"""Real-time push: the insurer posts Standard Webhooks-signed change events to a target URL.

    POST /insurers/_push {"insurer", "target_url", "secret", "events": n, "account": "demo",
                          "start": 0}
        -> {"sent": [{"id", "type", "status", "error"}]}

Event ``k`` (``start <= k < start + n``) has the id ``msg_{insurer}_{account}_{k}``: pushing
the same ``k`` again is a redelivery of the same message. Even ``k`` are ``policy.upserted``,
odd ``k`` are ``receipt.status_changed``. Body envelope::

    {"type": "policy.upserted", "timestamp": "<sandbox now>", "data": <policy>}
    {"type": "receipt.status_changed", "timestamp": "<sandbox now>",
     "data": {"insurer", "policy_number", "receipt_number", "status", "changed_at", "as_of"}}

``<policy>`` is the portfolio record shape (see ``sandbox.insurers``) with ``as_of`` = now.
Headers ``webhook-id``, ``webhook-timestamp`` (real wall clock, so the 5-minute tolerance
holds even when the sandbox's "today" is overridden) and ``webhook-signature``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from litestar import Response, post
from standardwebhooks.webhooks import Webhook

from sandbox.insurers import service
from sandbox.insurers.catalogue import REALTIME, SOURCES
from sandbox.insurers.config import CLOCK
from sandbox.insurers.portfolio import mix

PUSH_SALT = 0x5EED_9057


class PushRequest(msgspec.Struct):
    insurer: str
    target_url: str
    secret: str
    events: int = 1
    account: str = "demo"
    start: int = 0


def change_event(insurer: str, account: str, k: int) -> tuple[str, str, dict[str, Any]]:
    """Event ``k`` of an account's change feed: (message id, type, data)."""
    book = service.portfolio(SOURCES[insurer], account, {})
    today = CLOCK.today().toordinal()
    index = mix(book.seed ^ PUSH_SALT ^ k) % book.size
    sk = book.skeleton(index)
    policy = book.record(sk, max(today, sk.issue), service.now_iso())
    msg_id = f"msg_{insurer}_{account}_{k}"
    if k % 2 == 0:
        return msg_id, "policy.upserted", policy
    receipt = policy["receipts"][-1]
    data = {
        "insurer": insurer,
        "policy_number": policy["policy_number"],
        "receipt_number": receipt["receipt_number"],
        "status": receipt["status"],
        "changed_at": f"{receipt['status_changed_on']}T00:00:00Z",
        "as_of": policy["as_of"],
    }
    return msg_id, "receipt.status_changed", data


@post("/_push", status_code=200)
async def push(data: PushRequest) -> Response[bytes]:
    if data.insurer not in REALTIME:
        detail = {"error": "invalid_request", "detail": f"{data.insurer} does not push changes"}
        return Response(msgspec.json.encode(detail), status_code=400, media_type="application/json")
    webhook = Webhook(data.secret)
    sent: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for k in range(data.start, data.start + data.events):
            msg_id, kind, payload = change_event(data.insurer, data.account, k)
            body = msgspec.json.encode({"type": kind, "timestamp": service.now_iso(), "data": payload}).decode()
            signed_at = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(signed_at.timestamp())),
                "webhook-signature": webhook.sign(msg_id, signed_at, body),
            }
            result: dict[str, Any] = {"id": msg_id, "type": kind, "status": None, "error": None}
            try:
                response = await client.post(data.target_url, content=body, headers=headers)
                result["status"] = response.status_code
            except httpx.HTTPError as exc:
                result["error"] = type(exc).__name__
            sent.append(result)
    return Response(msgspec.json.encode({"sent": sent}), media_type="application/json")
