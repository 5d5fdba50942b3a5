"""In Chromium: an insurer connection's history, launching an import and watching it reach
done, its failed records and CSV, the chained-forward warning, and policy search with re-import."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sandbox.server import SandboxServer
from tests.console.conftest import Browser

TODAY = datetime.now(UTC).date()


@pytest.fixture
def small_portfolios(sandbox: SandboxServer) -> Iterator[None]:
    httpx.put(f"{sandbox.url}/insurers/_config/", json={"policies_per_insurer": 300})
    yield
    httpx.delete(f"{sandbox.url}/insurers/_config/")


async def connect(browser: Browser, key: str, insurer: str, path: str) -> str:
    async with browser.api(key) as api:
        r = await api.post(
            "/v1/insurer-connections",
            json={
                "insurer": insurer,
                "credentials": {"username": "broker-1", "password": "sandbox"},
                "base_url": f"{browser.live.env['PONTE_SANDBOX_URL']}/insurers/{path}/{insurer}",
                "options": {"product": "property"} if insurer == "warta" else {},
            },
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


async def test_launch_an_import_and_follow_it_to_its_failed_records(browser: Browser, small_portfolios: None) -> None:
    t = await browser.tenant("corretora-atlantico")
    warta = await connect(browser, t.key, "warta", "rest")  # Warta needs its product option: the API's
    await browser.sign_in(t.key)
    page = browser.page
    await page.click("nav >> text=Insurer imports")
    await page.select_option("#connect select[name=insurer]", "allianz")
    await page.fill("#connect input[name=username]", "broker-1")
    await page.fill("#connect input[name=password]", "sandbox")
    await page.click("#connect button")
    await page.locator("#connections tbody tr", has_text="Allianz").wait_for()  # the page refreshed itself
    assert await page.locator("#connections tbody tr").count() == 2
    allianz = (await page.get_attribute("#connections a:has-text('Allianz')", "href") or "").rsplit("/", 1)[-1]
    await page.click(f"a[href='/console/imports/connections/{warta}']")

    # A year on an insurer that allows 16 days a request: split into windows, said at launch.
    await page.fill("input[name=period_from]", (TODAY - timedelta(days=365)).isoformat())
    await page.fill("input[name=period_to]", TODAY.isoformat())
    await page.click("#launch-import")
    assert "split into" in await page.inner_text("#launch-windows")
    await browser.shot("import-launch")
    await page.locator("#launch-result [data-status=partially_succeeded]").wait_for(timeout=60_000)

    await page.click("#launch-result a")
    assert await page.locator("#results tbody tr.failed").count() > 0  # failed records first-class and red
    rows = page.locator("#results tbody tr")
    assert await rows.count() == await page.locator("#results tbody tr.failed").count() > 0
    assert (await page.locator("#results tbody tr.failed td.error").first.inner_text()).strip()
    await browser.shot("import-detail")
    await page.select_option("select[name=outcome]", "all")
    await page.click("form.filters button")
    await page.wait_for_url("**outcome=all**")
    assert await rows.count() > await page.locator("#results tbody tr.failed").count()
    async with page.expect_download() as download:
        await page.click("a.download")
    csv_path = await (await download.value).path()
    csv = await asyncio.to_thread(Path(str(csv_path)).read_text)
    assert csv.startswith("record_type,policy_number")
    assert ",failed," in csv

    await page.goto(f"{browser.url}/console/imports/connections/{warta}")
    assert await page.locator("#history tbody tr.failed").count() == 1  # partially succeeded: red
    await browser.shot("import-history")

    # As-of-period insurer, past period: chained forward to today, and the page says why.
    await page.goto(f"{browser.url}/console/imports/connections/{allianz}")
    await page.fill("input[name=period_from]", (TODAY - timedelta(days=40)).isoformat())
    await page.fill("input[name=period_to]", (TODAY - timedelta(days=35)).isoformat())
    await page.click("#launch-import")
    assert "chained up to today" in await page.inner_text("#launch-chained")

    # Policy search (by number, then by the holder's tax id) and re-import.
    await page.goto(f"{browser.url}/console/policies?insurer=warta")
    first = page.locator("#policies tbody tr a").first
    number = (await first.inner_text()).strip()
    await page.fill("#policy-search", number)
    await page.click("form.filters button")
    await page.wait_for_url("**q=**")
    assert await page.locator("#policies tbody tr").count() == 1
    await browser.shot("policies")
    await page.click("#policies tbody tr a")
    await page.click("#reimport")
    await page.locator("#reimported [data-status=succeeded]").wait_for(timeout=30_000)


async def test_another_tenants_connection_and_import_answer_404(browser: Browser) -> None:
    theirs = await browser.tenant("outra-corretora")
    conn = await connect(browser, theirs.key, "allianz", "soap")
    mine = await browser.tenant("minha-corretora")
    await browser.sign_in(mine.key)
    for path in (f"/console/imports/connections/{conn}", f"/console/imports/connections/{conn}?status=failed"):
        response = await browser.page.goto(f"{browser.url}{path}")
        assert response is not None and response.status == 404
        assert "another tenant" in await browser.page.inner_text("main")
    # Chromium reports the 404 document itself as a failed resource; that is this test's point.
    browser.console_errors.clear()
