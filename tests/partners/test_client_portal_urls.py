"""The portal client writes its paths and query strings itself (gateway/partners/client_portal.py)."""

from __future__ import annotations

import httpx
import pytest

from gateway.partners.client_portal import ClientPortalClient

NAMES = ["DAS.pdf", "Guia de ICMS 001-3.pdf", "Balanço Patrimonial (2).pdf", "a&b=c+d%20#x?.pdf", "Férias/2026.pdf"]


async def listing_url(client_id: str, folder_id: str, name: str) -> httpx.URL:
    """The URL the portal client asks for the files of a folder with ``name``."""
    sent: list[httpx.URL] = []

    def portal(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        return httpx.Response(200, json={"items": []})

    transport = httpx.MockTransport(portal)  # a stand-in for the portal, not for the database
    async with httpx.AsyncClient(transport=transport) as http:
        client = ClientPortalClient("https://portal.test/api", "ptk", http=http)
        await client.list_files(client_id, folder_id, name=name)
    [url] = sent
    return url


@pytest.mark.parametrize("name", NAMES)
async def test_the_query_is_the_one_httpx_builds_from_params(name: str) -> None:
    sent = await listing_url("c1", "f1", name)
    expected = httpx.Request("GET", "https://portal.test/api/clients/c1/folders/f1/files", params={"name": name}).url
    assert sent == expected
    assert sent.params["name"] == name


async def test_a_portal_call_carries_the_shared_clients_headers_but_not_its_cookies() -> None:
    """The pool is shared by every tenant's partners: a cookie one of them set must not ride
    along a portal call (the request is built by the portal client, not ``build_request``)."""
    sent: list[httpx.Request] = []

    def portal(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"firm": "f"})

    transport = httpx.MockTransport(portal)  # a stand-in for the portal, not for the database
    async with httpx.AsyncClient(transport=transport, headers={"User-Agent": "ponte-test"}) as http:
        http.cookies.set("session", "another-partners", domain="portal.test")
        client = ClientPortalClient("https://portal.test/api", "ptk", http=http)
        assert await client.check() == "f"
    (request,) = sent
    assert request.headers["user-agent"] == "ponte-test"
    assert request.headers["authorization"] == "Bearer ptk"
    assert "cookie" not in request.headers


async def test_ids_stay_one_path_segment() -> None:
    """A client id from the task system cannot reach another path of the portal."""
    sent = await listing_url("../c/1?x#y", "f 1", "DAS.pdf")
    assert sent.raw_path == b"/api/clients/..%2Fc%2F1%3Fx%23y/folders/f%201/files?name=DAS.pdf"
