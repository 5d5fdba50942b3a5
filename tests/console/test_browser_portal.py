"""In Chromium: the 52 syncs in their four groups, the core system configured and checked from
the page, a heavy sync refused daily until its warning is acknowledged, then run now to done."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import expect

from tests.console.conftest import Browser


async def test_acknowledge_and_schedule_a_heavy_sync_then_run_it(browser: Browser) -> None:
    t = await browser.tenant("operadora-saude")
    token = f"sandbox-console-{uuid.uuid4().hex[:12]}"
    core = f"{browser.live.env['PONTE_SANDBOX_URL']}/core"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.put(f"{core}/_config", json={"beneficiaries": 60, "providers": 30, "tiss_events": 40})
        r.raise_for_status()
    await browser.sign_in(t.key)
    page = browser.page
    await page.click("nav >> text=Portal syncs")
    assert await page.locator("table.syncs").count() == 4
    assert await page.locator("table.syncs tbody tr").count() == 52
    await page.fill("#core-token", token)
    await page.click("#core-save")
    await expect(page.locator("#flash")).to_contain_text("syncs can run")
    await page.reload()
    assert await page.locator("#core-system .badge.succeeded").count() == 1
    await browser.shot("portal-syncs")

    await page.click("a[href='/console/portal/syncs/beneficiary.full']")
    await expect(page.locator("#heavy-warning")).to_contain_text("not recommended")
    await page.select_option("#frequency", "daily")
    await page.click("#save-schedule")
    await expect(page.locator("#flash .error")).to_contain_text("acknowledge")  # refused by the manager
    await page.check("#acknowledge-heavy")
    await page.click("#save-schedule")
    await expect(page.locator("#flash")).to_contain_text("Schedule saved: daily")
    await browser.shot("portal-sync")

    await page.click("#run-now")
    await page.locator("#run-started [data-status=succeeded]").wait_for(timeout=60_000)
    await page.click("#run-started a")
    assert "created" in await page.inner_text("dl.facts")
    await page.goto(f"{browser.url}/console/portal/syncs/beneficiary.full")
    # The run started now, and perhaps the daily schedule's first run, if the minute's tick came
    # meanwhile (start_due_syncs runs each minute and today's period has not run yet).
    triggers = await page.locator("#runs tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(triggers) in (["manual"], ["manual", "scheduled"]), triggers
