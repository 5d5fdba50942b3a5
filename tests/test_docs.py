"""The docs pages work on a network with no internet: every asset they load is Ponte's own."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("page", ["/docs", "/docs/swagger"])
async def test_docs_pages_load_only_assets_that_ponte_serves(client, page: str) -> None:
    html = (await client.get(page)).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert urls, html
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from outside Ponte"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content
    for url in scripts:
        assert "javascript" in (await client.get(url)).headers["content-type"]
