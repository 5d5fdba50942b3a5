"""Signing in to the console the way a browser does: read the CSRF token from the page, post
the form with it."""

from __future__ import annotations

import re
from typing import Any

TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def sign_in(client: Any, key: str) -> Any:
    page = await client.get("/console/sign-in")
    assert page.status_code == 200, page.text
    return await client.post("/console/sign-in", data={"key": key, "_csrf_token": csrf_token(page.text)})


async def post_form(client: Any, path: str, data: dict[str, str] | None = None, *, page: str = "/console/") -> Any:
    """POST a console form with the token of the page it sits on."""
    token = csrf_token((await client.get(page)).text)
    return await client.post(path, data={**(data or {}), "_csrf_token": token})
