"""In Chromium: sign-in and sign-out, the overview, live task progress, the language switch,
and a POST without the CSRF token refused."""

from __future__ import annotations

import re

from gateway.runtime import Runtime
from gateway.tasks import service as tasks
from tests.console.conftest import Browser


async def test_sign_in_and_sign_out(browser: Browser) -> None:
    t = await browser.tenant("corretora-sol")
    page = browser.page
    await page.goto(f"{browser.url}/console/")
    assert page.url.endswith("/console/sign-in")  # no session: the sign-in page
    await browser.shot("sign-in")
    await page.fill("#key", "ponte_wrong")
    await page.click("#sign-in")
    assert "unknown or revoked" in await page.inner_text(".flash.error")
    browser.console_errors.clear()  # the refused sign-in is a 401 document, which Chromium logs
    await browser.sign_in(t.key)
    assert page.url.endswith("/console/")
    assert "Corretora Sol" in await page.inner_text("header")
    assert await page.locator("#health-tasks").count() == 1
    await browser.shot("overview")
    await page.click("#sign-out")
    await page.wait_for_url("**/console/sign-in")
    await page.goto(f"{browser.url}/console/tasks")
    assert page.url.endswith("/console/sign-in")


async def test_task_progress_updates_without_reloading(browser: Browser, runtime: Runtime) -> None:
    t = await browser.tenant("contabil-norte")
    await browser.sign_in(t.key)
    page = browser.page
    async with runtime.db.unit_of_work(runtime.queue) as session:
        task, _ = await tasks.create_task(
            session, tenant_id=t.tenant_id, kind="system.echo", params={"steps": 6, "seconds": 4}
        )
    await page.goto(f"{browser.url}/console/tasks")
    await page.evaluate("window.__not_reloaded = true")
    bar = page.locator(f"#progress-{task.id}")
    await bar.locator("progress[value]").wait_for()  # running, with a determinate bar
    await browser.shot("tasks")
    await page.locator(f"#progress-{task.id}[data-status=succeeded]").wait_for(timeout=30_000)
    assert await page.evaluate("window.__not_reloaded") is True
    assert "6/6" in await bar.inner_text()
    await page.click(f"a[href='/console/tasks/{task.id}']")
    assert "echoed" in await page.inner_text("table.counters")


async def test_language_switch_and_accept_language(browser: Browser) -> None:
    t = await browser.tenant("farmacia-luz")
    await browser.sign_in(t.key)
    page = browser.page
    assert await page.inner_text("h1") == "Overview"
    await page.select_option("#language", "pt_BR")
    await page.click("form[action='/console/language'] button")
    await page.wait_for_load_state()
    assert await page.inner_text("h1") == "Visão geral"
    assert await page.get_attribute("html", "lang") == "pt-BR"
    await page.select_option("#language", "en")
    await page.click("form[action='/console/language'] button")
    await page.wait_for_load_state()
    assert await page.inner_text("h1") == "Overview"


async def test_post_without_csrf_token_is_refused(browser: Browser) -> None:
    t = await browser.tenant("seguros-mar")
    await browser.sign_in(t.key)
    # Same browser, same session cookie, no token: refused; the session still works after.
    r = await browser.page.request.post(f"{browser.url}/console/sign-out", form={"x": "1"}, max_redirects=0)
    assert r.status == 403
    await browser.page.goto(f"{browser.url}/console/tasks")
    assert re.search(r"/console/tasks$", browser.page.url)
