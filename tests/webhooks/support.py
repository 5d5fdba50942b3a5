"""Posting webhooks the way a partner would: signed with the reference library."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook


def envelope(event_type: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}).encode()


def signed_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def task_completed(task_id: str = "T-1", documents: int = 1) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "client_id": "client-42",
        "employee": "Ana",
        "completed_at": "2026-11-20T15:00:00Z",
        "documents": [
            {"id": f"doc-{i}", "template": "DAS", "file_name": f"DAS {i}.pdf", "content_base64": "JVBERi0x"}
            for i in range(documents)
        ],
    }


async def create_endpoint(client: Any, headers: dict[str, str], source: str = "task-system") -> dict[str, Any]:
    r = await client.post("/v1/webhook-endpoints", json={"source": source}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def deliver(client: Any, endpoint: dict[str, Any], body: bytes, **kwargs: Any) -> Any:
    headers = signed_headers(endpoint["secret"], body, **kwargs)
    return await client.post(f"/v1/webhooks/{endpoint['id']}", content=body, headers=headers)


def stale(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)
