"""In Chromium: an outbound endpoint added for the sandbox's receiver (its secret shown once and
given to the receiver), a test ping sent, the ping delivered with its attempt, sent again, and
found in the sent events with its status per endpoint."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import expect

from tests.console.conftest import Browser


async def test_ping_an_outbound_endpoint_and_follow_its_attempts(browser: Browser) -> None:
    t = await browser.tenant("corretora-eventos")
    receiver = f"{browser.live.env['PONTE_SANDBOX_URL']}/receiver"
    name = f"crm-{uuid.uuid4().hex[:8]}"

    await browser.sign_in(t.key)
    page = browser.page
    await page.click("nav >> text=Webhooks")
    await page.click(".subnav >> text=Outbound endpoints")
    await page.fill("#endpoint-url", f"{receiver}/{name}")
    await page.fill("#endpoint-description", "CRM da corretora")
    await page.check("#add-endpoint input[value=ping]")
    await page.check("#add-endpoint input[value='import.failed']")
    await page.click("#add-endpoint button[type=submit]")
    secret = await page.locator("#endpoint-secret").inner_text()
    assert secret.startswith("whsec_")
    row = page.locator("#outbound-endpoints tbody tr").first
    await expect(row).to_contain_text(f"{receiver}/{name}")
    await expect(row).to_contain_text("import.failed")
    await browser.shot("outbound-endpoints")

    async with httpx.AsyncClient() as http:  # the tenant's system keeps the secret it was shown
        r = await http.put(f"{receiver}/_receivers/{name}", json={"secrets": [secret]})
        assert r.status_code == 200, r.text

    await row.locator("[data-action=test]").click()
    await page.click("#ping-sent a")
    await page.wait_for_url("**/console/webhooks/messages/*")
    # The log refreshes itself until the delivery is done: no reload.
    delivery = page.locator("#deliveries [data-status]")
    await expect(delivery).to_have_attribute("data-status", "succeeded", timeout=30_000)
    await expect(page.locator("#attempts tbody tr[data-succeeded=true]")).to_have_count(1)
    await expect(page.locator("#attempts")).to_contain_text("HTTP 200")
    await browser.shot("outbound-message")

    await page.click("#deliveries [data-action=retry]")
    await expect(page.locator("#retry-notice")).to_contain_text("Sent again to 1 endpoint")
    await expect(page.locator("#attempts tbody tr[data-succeeded=true]")).to_have_count(2, timeout=30_000)
    async with httpx.AsyncClient() as http:
        accepted = (await http.get(f"{receiver}/_receivers/{name}/accepted")).json()["ids"]
    assert len(accepted) == 2 and len(set(accepted)) == 1  # the same webhook-id on every attempt

    await page.click("main a[href='/console/webhooks/messages']")  # the breadcrumb
    message = page.locator("#messages tbody tr").first
    await expect(message).to_contain_text("ping")
    await expect(message).to_contain_text("Delivered")
    await expect(message).to_contain_text(f"{receiver}/{name}")
    await browser.shot("outbound-messages")
