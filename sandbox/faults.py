"""Fault injection for the sandbox: latency, error rate and timeouts per partner prefix.

Knobs are set at run time over HTTP (``PUT /_faults/{partner}``) so tests and benchmarks can
turn them on and off against a running server. Draws come from a seeded generator, so a run
with the same seed and the same request order fails the same requests.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import msgspec
from litestar import Router, delete, get, put
from litestar.datastructures import State
from litestar.types import ASGIApp, Receive, Scope, Send


class Faults(msgspec.Struct):
    latency_ms: int = 0
    error_rate: float = 0.0  # share of requests answered 503
    timeout_rate: float = 0.0  # share of requests that hang for ``timeout_s``
    timeout_s: float = 30.0
    seed: int = 0


@dataclass
class FaultSettings:
    by_partner: dict[str, Faults] = field(default_factory=dict)
    rngs: dict[str, random.Random] = field(default_factory=dict)

    def set(self, partner: str, faults: Faults) -> None:
        self.by_partner[partner] = faults
        self.rngs[partner] = random.Random(faults.seed)

    def draw(self, partner: str) -> tuple[Faults, float] | None:
        faults = self.by_partner.get(partner)
        if faults is None:
            return None
        return faults, self.rngs[partner].random()


@put("/{partner:str}", sync_to_thread=False)
def set_faults(partner: str, data: Faults, state: State) -> Faults:
    state.faults.set(partner, data)
    return data


@get("/", sync_to_thread=False)
def list_faults(state: State) -> dict[str, Faults]:
    return dict(state.faults.by_partner)


@delete("/", sync_to_thread=False)
def clear_faults(state: State) -> None:
    state.faults.by_partner.clear()


faults_router = Router(path="/_faults", route_handlers=[set_faults, list_faults, clear_faults])


def fault_injection(app: ASGIApp, settings: FaultSettings) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_faults"):
            await app(scope, receive, send)
            return
        partner = scope["path"].strip("/").split("/", 1)[0]
        drawn = settings.draw(partner)
        if drawn is not None:
            faults, roll = drawn
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if roll < faults.timeout_rate:
                await asyncio.sleep(faults.timeout_s)
            elif roll < faults.timeout_rate + faults.error_rate:
                body = b'{"error":"injected fault"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return middleware
