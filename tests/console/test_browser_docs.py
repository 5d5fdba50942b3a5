"""The docs pages render in a real Chromium on a network that reaches nothing beyond loopback."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", "text=Create a tenant"), ("/docs/swagger", ".swagger-ui .opblock")],
)
async def test_docs_render_with_nothing_beyond_loopback(browser: Any, path: str, rendered: str) -> None:
    outside: list[str] = []

    async def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK or route.request.url.startswith("data:"):
            await route.continue_()
        else:  # refused here, in the browser: nothing leaves the machine
            outside.append(route.request.url)
            await route.abort()

    await browser.page.route("**/*", only_loopback)
    await browser.page.goto(f"{browser.url}{path}")
    await browser.page.locator(rendered).first.wait_for(timeout=30_000)
    assert outside == []
