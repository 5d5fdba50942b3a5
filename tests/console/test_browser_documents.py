"""In Chromium: the failure card by error code, mapping an unmapped template to a folder
picked from a model client's tree, and retrying its failed delivery until it is delivered."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.conftest import Browser
from tests.console.partners import document, send_signed, task_completed, wait_for


async def test_map_a_template_and_retry_its_failed_delivery(browser: Browser) -> None:
    t = await browser.tenant("contabil-sul")
    await browser.sign_in(t.key)
    page = browser.page
    await page.click("nav >> text=Documents")
    await page.fill("#integration input[name=token]", f"ptk_{t.slug}")
    await page.check("#integration input[name=enabled]")
    await page.check("#integration input[name=apply_default_folders]")
    await page.click("#integration button")
    await page.locator("#integration.good").wait_for()  # saved, and the page refreshed itself
    async with browser.api(t.key) as api:
        assert (await api.post("/v1/document-templates", json={"name": "Alvará"})).status_code == 201
        endpoint = (await api.post("/v1/webhook-endpoints", json={"source": "task-system"})).json()
        docs = [document("d1", "DAS", "DAS Janeiro.pdf"), document("d2", "Alvará", "Alvará 2026.pdf")]
        assert (await send_signed(endpoint, task_completed(docs))).status_code == 202
        await wait_for(api, "/v1/document-deliveries?status=failed", lambda b: len(b["items"]) == 1)
        await wait_for(api, "/v1/document-deliveries?status=delivered", lambda b: len(b["items"]) == 1)

    await page.reload()
    card = page.locator("#by-error-code")
    assert "template_unmapped" in await card.inner_text()
    await browser.shot("documents-card")

    # The unmapped list; the folder copied from the model client's tree (cli-1 has Fiscal > DAS now).
    await page.click("#failure-card >> text=See and retry")
    assert await page.locator("#deliveries tbody tr.failed").count() == 1
    await page.goto(f"{browser.url}/console/documents/templates?mapped=false")
    assert await page.locator("#templates tbody tr").count() == 1
    await page.check("#templates input[aria-label='Alvará']")
    await page.fill("#model-client", "cli-1")
    await page.click("text=Load folders")
    await page.select_option("#model-folder", "Fiscal > DAS")
    await page.click("#assign-folder")
    await expect(page.locator("#flash")).to_contain_text("now goes to Fiscal > DAS")
    await page.locator("text=Every template has a folder.").wait_for()  # the list reloaded by itself
    await browser.shot("documents-templates")

    await page.goto(f"{browser.url}/console/documents/deliveries?status=failed&error_code=template_unmapped")
    await page.check("#deliveries input[name=delivery_id]")
    await page.click("#retry-selected")
    await expect(page.locator("#flash")).to_contain_text("1 delivery queued again")
    async with browser.api(t.key) as api:
        await wait_for(api, "/v1/document-deliveries?status=delivered", lambda b: len(b["items"]) == 2)
    await page.goto(f"{browser.url}/console/documents/deliveries")
    assert await page.locator("#deliveries tbody tr.failed").count() == 0
    await browser.shot("documents-deliveries")
