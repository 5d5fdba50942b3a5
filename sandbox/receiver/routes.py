from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class ReceiverConfig(msgspec.Struct, forbid_unknown_fields=True):
    secrets: list[str] = []
    error_rate: float = 0.0  # share answered 500
    timeout_rate: float = 0.0  # share that hang for ``timeout_s`` before answering 504
    timeout_s: float = 30.0
    latency_ms: int = 0  # every answer waits this long
    gone: bool = False  # answer 410: "this endpoint no longer exists"
    down: bool = False  # answer 503 to everything
    seed: int = 0


class Received(msgspec.Struct):
    webhook_id: str
    type: str | None
    status: int
    verified: bool
    signatures: int
    at: float
    signature: str = ""  # the webhook-signature header as it came


@dataclass
class Receiver:
    config: ReceiverConfig
    signers: list[Webhook]
    rng: random.Random
    received: list[Received] = field(default_factory=list)


def receivers(state: State) -> dict[str, Receiver]:
    if "receivers" not in state:
        state.receivers = {}
    return state.receivers  # type: ignore[no-any-return]


@put("/_receivers/{name:str}", sync_to_thread=False)
def configure(state: State, name: str, data: ReceiverConfig) -> ReceiverConfig:
    """(Re)configure; what was received so far is kept."""
    existing = receivers(state).get(name)
    receiver = Receiver(data, [Webhook(s) for s in data.secrets], random.Random(data.seed))
    if existing is not None:
        receiver.received = existing.received
    receivers(state)[name] = receiver
    return data


@get("/_receivers/{name:str}", sync_to_thread=False)
def describe(state: State, name: str) -> dict[str, object]:
    receiver = receivers(state).get(name)
    if receiver is None:
        return {"exists": False}
    accepted = sum(1 for r in receiver.received if 200 <= r.status < 300)
    return {"exists": True, "config": receiver.config, "requests": len(receiver.received), "accepted": accepted}


@get("/_receivers/{name:str}/received", sync_to_thread=False)
def received(state: State, name: str) -> dict[str, list[Received]]:
    receiver = receivers(state).get(name)
    return {"items": receiver.received if receiver else []}


@get("/_receivers/{name:str}/accepted", sync_to_thread=False)
def accepted(state: State, name: str) -> dict[str, list[str]]:
    receiver = receivers(state).get(name)
    return {"ids": [r.webhook_id for r in receiver.received if 200 <= r.status < 300] if receiver else []}


@delete("/_receivers/{name:str}", sync_to_thread=False)
def forget(state: State, name: str) -> None:
    receivers(state).pop(name, None)


def _verify(receiver: Receiver, body: bytes, headers: dict[str, str]) -> bool:
    for signer in receiver.signers:
        try:
            signer.verify(body, headers, json_parse=False)
            return True
        except WebhookVerificationError:
            continue
    return False


@post("/{name:str}", status_code=200)
async def deliver(request: Request[object, object, State], name: str) -> Response[bytes]:
    receiver = receivers(request.app.state).get(name)
    if receiver is None:
        return Response(b'{"error":"unknown receiver"}', status_code=404, media_type="application/json")
    body = await request.body()
    headers = {k: request.headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    config = receiver.config
    verified = _verify(receiver, body, headers)
    try:
        event_type = msgspec.json.decode(body).get("type") if verified else None
    except msgspec.DecodeError:
        event_type = None
    roll = receiver.rng.random()
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    if not verified:
        status = 401
    elif config.down:
        status = 503
    elif config.gone:
        status = 410
    elif roll < config.timeout_rate:
        await asyncio.sleep(config.timeout_s)
        status = 504
    elif roll < config.timeout_rate + config.error_rate:
        status = 500
    else:
        status = 200
    signatures = len(headers["webhook-signature"].split())
    receiver.received.append(
        Received(
            headers["webhook-id"],
            event_type,
            status,
            verified,
            signatures,
            time.time(),
            signature=headers["webhook-signature"],
        )
    )
    answer = b'{"ok":true}' if status == 200 else b'{"error":"injected"}' if verified else b'{"error":"bad signature"}'
    return Response(answer, status_code=status, media_type="application/json")


handlers = [configure, describe, received, accepted, forget, deliver]
