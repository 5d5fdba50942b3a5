"""What partners send, for the browser tests: a signed task.completed from the task system."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import standardwebhooks


async def send_signed(endpoint: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    now = datetime.now(UTC)
    msg_id = f"msg_{uuid.uuid4().hex}"
    payload = json.dumps(body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": standardwebhooks.Webhook(endpoint["secret"]).sign(msg_id, now, payload),
        "content-type": "application/json",
    }
    async with httpx.AsyncClient() as http:
        return await http.post(endpoint["url"], content=payload, headers=headers)


def document(doc_id: str, template: str, file_name: str) -> dict[str, Any]:
    return {
        "id": doc_id,
        "template": template,
        "file_name": file_name,
        "content_base64": base64.b64encode(f"%PDF {doc_id}".encode()).decode(),
    }


def task_completed(documents: list[dict[str, Any]], client_id: str = "cli-1") -> dict[str, Any]:
    return {
        "type": "task.completed",
        "data": {
            "task_id": f"T-{uuid.uuid4().hex[:6]}",
            "client_id": client_id,
            "employee": "Ana",
            "completed_at": datetime.now(UTC).isoformat(),
            "documents": documents,
        },
    }


async def wait_for(api: httpx.AsyncClient, path: str, predicate: Any, timeout: float = 30) -> Any:
    """Poll an API list until ``predicate(json)`` holds (the worker runs in its own process)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await api.get(path)).json()
        if predicate(body):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"{path}: {body}"
        await asyncio.sleep(0.3)
