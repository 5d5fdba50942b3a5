"""The Boavista sandbox as tests drive it: its test-only configuration, set for one test and
put back after, and a receiver standing in for Ponte's public webhook URL."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@asynccontextmanager
async def sandbox_config(client: httpx.AsyncClient, **settings: Any) -> AsyncIterator[dict[str, Any]]:
    """Boavista's configuration with ``settings`` merged in, as the sandbox now has it; what
    was there before is put back afterwards, so no knob leaks into the next test."""
    before = (await client.get("/boavista/_config")).json()
    (await client.put("/boavista/_config", json=settings)).raise_for_status()
    try:
        yield (await client.get("/boavista/_config")).json()
    finally:
        await client.put("/boavista/_config", json=before)


class WebhookReceiver:
    """A real HTTP server that records each post; it can refuse the next N with a 500."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, str], bytes]] = []
        self.refuse_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                refused = receiver.refuse_next > 0
                receiver.refuse_next -= refused
                if not refused:
                    receiver.messages.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if refused else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/boavista"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def for_remittance(self, remittance_id: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.messages if json.loads(b)["data"]["remittance_id"] == remittance_id]

    async def wait_for(
        self, remittance_id: str, count: int = 1, within_s: float = 15.0
    ) -> list[tuple[dict[str, str], bytes]]:
        for _ in range(int(within_s / 0.02)):
            found = self.for_remittance(remittance_id)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"no return for {remittance_id}")
