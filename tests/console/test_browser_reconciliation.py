"""In Chromium: the establishment enabled from its settings form, a day of sales reconciled by
Boavista, the daily summary, the divergence queue largest first with the matcher's explanation,
one divergent sale opened, and the remittances."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import msgspec
from playwright.async_api import expect

from sandbox.boavista.ledger import LedgerConfig, sales_of_day
from tests.console.conftest import Browser
from tests.console.partners import wait_for


async def test_open_a_divergence(browser: Browser) -> None:
    t = await browser.tenant("farmacia-centro")
    boavista = f"{browser.live.env['PONTE_SANDBOX_URL']}/boavista"
    day = (datetime.now(ZoneInfo("America/Sao_Paulo")) - timedelta(days=1)).date()
    async with httpx.AsyncClient(base_url=boavista) as admin:
        config = msgspec.convert((await admin.get("/_config")).json(), LedgerConfig)
        # An establishment whose ERP day has a divergence planted (about 2% of sales are) that the
        # matcher can explain with an acquirer record (not_found and duplicate have none).
        explained = {"authorization", "installments", "amount", "nsu"}
        codes = (f"77{uuid.uuid4().int % 10**8:08d}" for _ in range(10_000))
        code = next(c for c in codes if {s.divergence for s in sales_of_day(config, c, day)} & explained)
        token = (await admin.put(f"/_establishments/{code}")).json()["token"]
        sales = (await admin.get(f"/_erp_sales/{code}", params={"day": day.isoformat()})).json()

    await browser.sign_in(t.key)
    page = browser.page
    await page.click("nav >> text=Reconciliation")
    await page.fill("input[name=establishment_code]", code)
    await page.fill("input[name=api_token]", token)
    await page.check("input[name=enabled]")
    await page.click("#establishment button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("Establishment saved")

    async with browser.api(t.key) as api:
        r = await api.post("/v1/reconciliation/sales", json={"items": sales["items"]})
        assert r.status_code in (200, 207), r.text
        assert (await api.post("/v1/reconciliation/runs")).status_code == 202
        # Boavista's return comes back as a signed webhook to the live gateway, on its own.
        await wait_for(api, "/v1/reconciliation/remittances", lambda b: b["items"] and b["items"][0]["returned_at"], 60)
        queue = await wait_for(api, "/v1/reconciliation/divergences?limit=5", lambda b: len(b["items"]) > 0, 30)

    await page.goto(f"{browser.url}/console/reconciliation/?day={day.isoformat()}")
    assert "divergent" in await page.inner_text("#summary")
    await browser.shot("reconciliation")
    await page.click("text=Divergence queue")
    first = page.locator("#divergences tbody tr").first
    assert queue["items"][0]["sale_id"] in await first.inner_text()  # largest amount first, as the API
    await browser.shot("reconciliation-divergences")
    await first.locator("a").click()
    assert (await page.inner_text("#matches")).strip()  # the matcher's explanation
    assert await page.locator("#history tbody tr").count() >= 2
    await page.goto(f"{browser.url}/console/reconciliation/remittances")
    assert await page.locator("#remittances tbody tr").count() >= 1
