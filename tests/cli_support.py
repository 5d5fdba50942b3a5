"""The CLI's REST calls, served in process by the session's app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gateway import clitools


class LoopTransport(httpx.BaseTransport):
    """The CLI's sync HTTP calls, served by the session's app on the test's event loop (a
    second app lifespan would replace the shared runtime on ``app.state``)."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.client, self.loop = client, loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = self.client.request(
            request.method, request.url.raw_path.decode(), headers=request.headers, content=request.read()
        )
        answer = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=30)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


@pytest.fixture
async def api_over_asgi(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clitools.Api, "transport", LoopTransport(client, asyncio.get_running_loop()))
