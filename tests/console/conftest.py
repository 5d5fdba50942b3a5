"""Console fixtures: the test client as a browser uses it, and a real Chromium on a live stack."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import OPERATOR_KEY
from tests.console.browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    FAILURES_DIR,
    SCREENSHOTS_DIR,
    LiveStack,
    chromium_available,
)
from tests.factories import TenantKey


@pytest.fixture
async def console(client: Any) -> AsyncIterator[Any]:
    """The session's test client as a browser would use it: redirects shown, not followed, and
    its cookie jar emptied afterwards so no session leaks into the next test."""
    follow = client.follow_redirects
    client.follow_redirects = False
    client.cookies.clear()
    try:
        yield client
    finally:
        client.follow_redirects = follow
        client.cookies.clear()


# --- the real browser -------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def live(settings: Any, sandbox: Any) -> Iterator[LiveStack]:
    """One gateway and worker for the console's tests, stopped when they end: its worker shares
    the queue with the other suites' burst workers and must not outlive this package."""
    if not chromium_available():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    stack = LiveStack(settings, sandbox.url, OPERATOR_KEY).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="package")
async def chromium(live: LiveStack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        # A fresh profile (--user-data-dir) for the run; never Playwright's own browser build.
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            locale="en-US",
            viewport={"width": 1280, "height": 860},
        )
        context.set_default_timeout(15_000)
        yield context
        await context.close()


@dataclass
class Browser:
    """One page in Chromium against the live stack, with the tenant it signs in as."""

    page: Any
    live: LiveStack
    console_errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.live.url

    async def tenant(self, slug: str) -> TenantKey:
        op = {"Authorization": f"Bearer {OPERATOR_KEY}"}
        async with httpx.AsyncClient(base_url=self.url, headers=op) as api:
            r = await api.post("/v1/tenants", json={"name": slug.replace("-", " ").title(), "slug": slug})
            assert r.status_code == 201, r.text
            tenant_id = r.json()["id"]
            r = await api.post(f"/v1/tenants/{tenant_id}/keys", json={"name": "console test"})
            assert r.status_code == 201, r.text
        return TenantKey(tenant_id=uuid.UUID(tenant_id), slug=slug, key=r.json()["key"])

    def api(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    async def sign_in(self, key: str) -> None:
        await self.page.goto(f"{self.url}/console/sign-in")
        await self.page.fill("#key", key)
        await self.page.click("#sign-in")
        await self.page.wait_for_url("**/console/**")

    async def shot(self, name: str) -> None:
        """The README's screenshot of a screen, when PONTE_CONSOLE_SCREENSHOTS names a folder."""
        if SCREENSHOTS_DIR:
            os.makedirs(SCREENSHOTS_DIR, exist_ok=True)
            await self.page.screenshot(path=os.path.join(SCREENSHOTS_DIR, f"{name}.png"), full_page=True)


@pytest.fixture
async def browser(
    chromium: Any, live: LiveStack, runtime: Any, request: pytest.FixtureRequest
) -> AsyncIterator[Browser]:
    await chromium.clear_cookies()
    page = await chromium.new_page()
    b = Browser(page=page, live=live)
    page.on("console", lambda m: b.console_errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: b.console_errors.append(f"pageerror: {e}"))
    yield b
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        FAILURES_DIR.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(FAILURES_DIR / f"{request.node.name}.png"), full_page=True)
    await page.close()
    if report is not None and report.passed:
        assert b.console_errors == [], "the browser console logged errors"
