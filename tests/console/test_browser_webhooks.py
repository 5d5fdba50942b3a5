"""In Chromium: an inbound event that failed (no connection to its insurer yet), shown red with
its error, replayed from its page after the connection exists, and processed."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import expect

from tests.console.conftest import Browser
from tests.console.partners import send_signed, wait_for


async def test_replay_a_failed_inbound_event(browser: Browser) -> None:
    t = await browser.tenant("corretora-rio")
    async with browser.api(t.key) as api:
        endpoint = (await api.post("/v1/webhook-endpoints", json={"source": "insurer:allianz"})).json()
        body = {
            "type": "policy.upserted",
            "data": {"insurer": "allianz", "policy_number": "AZ-7", "as_of": datetime.now(UTC).isoformat(),
                     "status": "active"},
        }  # fmt: skip
        assert (await send_signed(endpoint, body)).status_code == 202
        failed = await wait_for(api, "/v1/webhook-events?status=failed", lambda b: len(b["items"]) == 1)
    event_id = failed["items"][0]["id"]

    await browser.sign_in(t.key)
    page = browser.page
    await page.click("nav >> text=Webhooks")
    assert "insurer:allianz" in await page.inner_text("#endpoints")
    await page.click("text=Received events")
    assert await page.locator("#events tbody tr.failed").count() == 1
    await browser.shot("webhook-events")
    await page.click(f"a[href='/console/webhooks/events/{event_id}']")
    assert "no connection to allianz" in await page.inner_text("dl.facts")
    await browser.shot("webhook-event")

    async with browser.api(t.key) as api:  # what the error says to do, then replay
        sandbox = browser.live.env["PONTE_SANDBOX_URL"]
        r = await api.post(
            "/v1/insurer-connections",
            json={"insurer": "allianz", "credentials": {"username": "b", "password": "sandbox"},
                  "base_url": f"{sandbox}/insurers/soap/allianz"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    await page.click("#replay")
    await page.locator("#replay-started [data-status=succeeded]").wait_for(timeout=30_000)
    await page.reload()
    await expect(page.locator("#event-status")).to_have_text("processed")
