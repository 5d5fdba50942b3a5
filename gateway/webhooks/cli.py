"""``ponte webhooks send``: one signed delivery to an inbound endpoint, as the partner sends it.

The body is the partner's envelope ``{"type", "timestamp", "data"}`` signed the Standard
Webhooks way with the endpoint's current secret. Without ``--secret`` the secret is read from
the database and unsealed with PONTE_SECRET_KEY (both in ``.ponte/env`` under ``ponte dev``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import click
import httpx
from standardwebhooks import Webhook

from gateway.clitools import DEFAULT_URL, echo_json, exit_code, run_with_session


@click.group(help="Inbound webhooks: send a signed test delivery, as a partner would.")
def webhooks() -> None:
    pass


def _current_secret(endpoint_id: uuid.UUID) -> str:
    from gateway.crypto import CredentialCipher
    from gateway.errors import NotFound
    from gateway.settings import get_settings
    from gateway.webhooks import signing
    from gateway.webhooks.models import WebhookEndpoint

    async def read(session: Any) -> str:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        cipher = CredentialCipher(get_settings().secret_key)
        return signing.active_secrets(cipher, endpoint.secrets, now=datetime.now(UTC))[0]

    return run_with_session(read)


@webhooks.command("send", help="POST one signed event to an inbound endpoint and print Ponte's answer.")
@click.option("--endpoint", "endpoint_id", required=True, type=click.UUID, help="Inbound endpoint id")
@click.option("--event", "event_type", required=True, help="Event type, e.g. task.completed")
@click.option(
    "--data", "data_file", required=True, type=click.File("rb"), help="JSON file with the event's data (- for stdin)"
)
@click.option("--secret", help="The endpoint's whsec_ secret (default: read from the database)")
@click.option("--url", envvar="PONTE_URL", default=DEFAULT_URL, show_default=True, help="Gateway URL (env PONTE_URL)")
@click.option("--webhook-id", help="webhook-id header (default: a new one; repeat one to test dedup)")
@click.option("--json", "as_json", is_flag=True, help="Print the status and answer as JSON")
def send(
    endpoint_id: uuid.UUID,
    event_type: str,
    data_file: Any,
    secret: str | None,
    url: str,
    webhook_id: str | None,
    as_json: bool,
) -> None:
    try:
        data = json.loads(data_file.read())
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    now = datetime.now(UTC)
    body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data})
    message_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    signature = Webhook(secret or _current_secret(endpoint_id)).sign(message_id, now, body)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    response = httpx.post(f"{url.rstrip('/')}/v1/webhooks/{endpoint_id}", content=body, headers=headers, timeout=30)
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    if as_json:
        echo_json({"status": response.status_code, "webhook_id": message_id, "body": answer})
    elif response.is_success:
        click.echo(f"{response.status_code} event {answer.get('id')} {answer.get('status')} (webhook-id {message_id})")
    else:
        detail = answer.get("detail") if isinstance(answer, dict) else answer
        click.echo(f"{response.status_code} {detail}", err=True)
    exit_code(response.is_success)
