"""The client portal sandbox and its gateway client, over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.egress import ResponseTooLarge
from gateway.partners.client_portal import ClientPortalClient, DeliveredFile
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from sandbox.server import SandboxServer
from tests.loopback import LOOPBACK_EGRESS

MiB = 1 << 20

TOKEN = "ptk_firm-tests"
DAS = ["Fiscal", "DAS"]


@pytest.fixture
async def portal(sandbox: SandboxServer) -> AsyncIterator[ClientPortalClient]:
    async with ClientPortalClient(f"{sandbox.url}/portal", TOKEN, egress=LOOPBACK_EGRESS) as client:
        yield client


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plays the sandbox operator and the firm's client (who views files); no gateway code."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        yield http


@pytest.fixture
def client_id() -> str:
    # Each test gets its own client, so tests never see each other's files.
    return f"cli-{uuid.uuid4().hex[:10]}"


async def admin_files(admin: httpx.AsyncClient, client_id: str) -> list[dict[str, Any]]:
    response = await admin.get("/portal/_files", params={"client_id": client_id})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def view(admin: httpx.AsyncClient, client_id: str, folder_id: str, delivered: DeliveredFile) -> None:
    """What the client does by opening the file in the portal."""
    url = f"/portal/clients/{client_id}/folders/{folder_id}/files/{delivered.file_id}/view"
    (await admin.post(url, headers={"Authorization": f"Bearer {TOKEN}"})).raise_for_status()


async def set_client(admin: httpx.AsyncClient, client_id: str, **settings: object) -> None:
    (await admin.put(f"/portal/_clients/{client_id}", json=settings)).raise_for_status()


async def set_portal_faults(admin: httpx.AsyncClient, **faults: float) -> None:
    (await admin.put("/_faults/portal", json={"seed": 7, **faults})).raise_for_status()


async def test_folder_creation_is_idempotent(sandbox: SandboxServer, client_id: str) -> None:
    ids = []
    for _ in range(2):  # a fresh client each time, so its folder cache cannot hide a duplicate
        async with ClientPortalClient(f"{sandbox.url}/portal", TOKEN, egress=LOOPBACK_EGRESS) as portal:
            ids.append(await portal.ensure_folder_path(client_id, ["Fiscal", "DAS", "2026"]))
            folders = await portal.list_folders(client_id)
    assert ids[0] == ids[1]
    assert [f.path for f in folders].count(["Fiscal", "DAS", "2026"]) == 1
    assert [f.path for f in folders].count(["Fiscal", "DAS"]) == 1


async def test_upload_returns_sha256_of_the_bytes(portal: ClientPortalClient, client_id: str) -> None:
    folder_id = await portal.ensure_folder_path(client_id, DAS)
    created = await portal.create_file(client_id, folder_id, "DAS.pdf", b"%PDF-1.7 das", "application/pdf")
    assert created.sha256 == hashlib.sha256(b"%PDF-1.7 das").hexdigest()
    assert (created.size, created.content_type, created.viewed) == (12, "application/pdf", False)
    with pytest.raises(PermanentPartnerError) as taken:
        await portal.create_file(client_id, folder_id, "DAS.pdf", b"other")
    assert taken.value.code == "exists"


async def test_same_name_not_viewed_is_replaced(
    admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str
) -> None:
    first = await portal.deliver_file(client_id, DAS, "DAS Janeiro.pdf", b"v1")
    second = await portal.deliver_file(client_id, DAS, "DAS Janeiro.pdf", b"v2")
    assert (first.replaced, second.replaced) == (False, True)
    assert (second.file_id, second.name_used) == (first.file_id, "DAS Janeiro.pdf")
    [stored] = await admin_files(admin, client_id)
    assert stored["version_count"] == 2
    assert stored["sha256"] == hashlib.sha256(b"v2").hexdigest()


async def test_viewed_file_gets_numbered_copies(
    admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str
) -> None:
    folder_id = await portal.ensure_folder_path(client_id, DAS)
    original = await portal.deliver_file(client_id, DAS, "DAS Janeiro.pdf", b"v1")
    await view(admin, client_id, folder_id, original)
    with pytest.raises(PermanentPartnerError) as locked:
        await portal.replace_file(client_id, folder_id, original.file_id, b"sneaky")
    assert locked.value.code == "locked"

    copy1 = await portal.deliver_file(client_id, DAS, "DAS Janeiro.pdf", b"v2")
    assert (copy1.name_used, copy1.replaced) == ("DAS Janeiro (1).pdf", False)
    await view(admin, client_id, folder_id, copy1)
    copy2 = await portal.deliver_file(client_id, DAS, "DAS Janeiro.pdf", b"v3")
    assert copy2.name_used == "DAS Janeiro (2).pdf"
    again = await portal.deliver_file(client_id, DAS, "DAS Janeiro.pdf", b"v4")  # (2) not viewed yet
    assert (again.name_used, again.replaced, again.file_id) == ("DAS Janeiro (2).pdf", True, copy2.file_id)

    by_name = {f["name"]: f for f in await admin_files(admin, client_id)}
    assert sorted(by_name) == ["DAS Janeiro (1).pdf", "DAS Janeiro (2).pdf", "DAS Janeiro.pdf"]
    assert by_name["DAS Janeiro.pdf"]["sha256"] == hashlib.sha256(b"v1").hexdigest()
    assert by_name["DAS Janeiro (2).pdf"]["version_count"] == 2


async def test_retried_delivery_does_not_copy(
    admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str
) -> None:
    folder_id = await portal.ensure_folder_path(client_id, DAS)
    await view(admin, client_id, folder_id, await portal.deliver_file(client_id, DAS, "Guia.pdf", b"old"))
    delivered = await portal.deliver_file(client_id, DAS, "Guia.pdf", b"new")
    before = await admin_files(admin, client_id)

    # A worker that crashed after the upload runs the same delivery again.
    retried = await portal.deliver_file(client_id, DAS, "Guia.pdf", b"new")
    old_again = await portal.deliver_file(client_id, DAS, "Guia.pdf", b"old")
    assert (retried.name_used, retried.file_id, retried.already_delivered) == ("Guia (1).pdf", delivered.file_id, True)
    assert (old_again.name_used, old_again.already_delivered) == ("Guia.pdf", True)
    assert await admin_files(admin, client_id) == before


async def test_50_concurrent_deliveries_of_an_unviewed_name(
    admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str
) -> None:
    contents = [f"resumo {i}".encode() for i in range(50)]
    results = await asyncio.gather(*(portal.deliver_file(client_id, DAS, "Resumo.pdf", c) for c in contents))
    assert sorted(r.replaced for r in results) == [False] + [True] * 49
    [stored] = await admin_files(admin, client_id)
    # Every delivery became one version of the single file: none lost.
    assert stored["version_count"] == 50
    assert sorted(stored["history"]) == sorted(hashlib.sha256(c).hexdigest() for c in contents)


async def test_50_concurrent_deliveries_when_each_file_is_viewed_at_once(
    admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str
) -> None:
    await set_client(admin, client_id, auto_view=True)
    contents = [f"das {i}".encode() for i in range(50)]
    results = await asyncio.gather(*(portal.deliver_file(client_id, DAS, "DAS.pdf", c) for c in contents))
    files = await admin_files(admin, client_id)
    expected_names = {"DAS.pdf"} | {f"DAS ({n}).pdf" for n in range(1, 50)}
    assert {f["name"] for f in files} == expected_names == {r.name_used for r in results}
    assert sorted(f["sha256"] for f in files) == sorted(hashlib.sha256(c).hexdigest() for c in contents)
    assert all(f["version_count"] == 1 and f["viewed"] for f in files)


async def test_50_concurrent_retries_of_one_delivery(
    admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str
) -> None:
    results = await asyncio.gather(*(portal.deliver_file(client_id, DAS, "Folha.pdf", b"same") for _ in range(50)))
    assert sum(not r.already_delivered for r in results) == 1
    [stored] = await admin_files(admin, client_id)
    assert stored["version_count"] == 1


async def test_unknown_client(portal: ClientPortalClient) -> None:
    with pytest.raises(PermanentPartnerError) as missing:
        await portal.get_client("missing-42")
    assert missing.value.code == "client_not_found"
    with pytest.raises(PermanentPartnerError) as delivering:
        await portal.deliver_file("missing-42", DAS, "DAS.pdf", b"x")
    assert delivering.value.code == "client_not_found"


async def test_known_client_is_deterministic(portal: ClientPortalClient) -> None:
    first, second = await portal.get_client("acme-7"), await portal.get_client("acme-7")
    assert first == second
    assert (first.id, first.locked, first.restricted_departments) == ("acme-7", False, [])


async def test_bad_token_is_rejected(sandbox: SandboxServer, client_id: str) -> None:
    async with ClientPortalClient(f"{sandbox.url}/portal", "not-a-token", egress=LOOPBACK_EGRESS) as portal:
        with pytest.raises(PermanentPartnerError) as rejected:
            await portal.get_client(client_id)
    assert (rejected.value.status, rejected.value.code) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("client_id", "path"),
    [("restricted-1", ["Pessoal", "Resumo Mensal"]), ("cli-open", ["Restrito", "Sócios"])],
)
async def test_restricted_folders_are_denied(portal: ClientPortalClient, client_id: str, path: list[str]) -> None:
    with pytest.raises(PermanentPartnerError) as denied:
        await portal.deliver_file(client_id, path, "Resumo.pdf", b"x")
    assert (denied.value.status, denied.value.code) == (403, "permission_denied")


async def test_locked_client_is_denied(admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str) -> None:
    await set_client(admin, client_id, locked=True)
    with pytest.raises(PermanentPartnerError) as denied:
        await portal.ensure_folder_path(client_id, DAS)
    assert denied.value.code == "permission_denied"


async def test_injected_503_is_transient(admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str) -> None:
    await set_portal_faults(admin, error_rate=1.0)
    with pytest.raises(TransientPartnerError) as unavailable:
        await portal.get_client(client_id)
    assert (unavailable.value.status, unavailable.value.code) == (503, "portal_unavailable")


async def test_deliveries_retried_through_faults_land_once(
    admin: httpx.AsyncClient, portal: ClientPortalClient, client_id: str
) -> None:
    await set_portal_faults(admin, error_rate=0.3)

    async def deliver_with_retries(name: str, content: bytes) -> DeliveredFile:
        for _ in range(50):  # what the task runner does with a transient failure
            try:
                return await portal.deliver_file(client_id, DAS, name, content)
            except TransientPartnerError:
                await asyncio.sleep(0)
        raise AssertionError(f"{name} never got through")

    docs = {f"Doc {i}.pdf": f"content {i}".encode() for i in range(20)}
    await asyncio.gather(*(deliver_with_retries(name, body) for name, body in docs.items()))
    await admin.delete("/_faults/")
    files = await admin_files(admin, client_id)
    assert {f["name"]: f["sha256"] for f in files} == {n: hashlib.sha256(b).hexdigest() for n, b in docs.items()}


async def test_content_source(sandbox: SandboxServer, admin: httpx.AsyncClient, portal: ClientPortalClient) -> None:
    doc_url = f"{sandbox.url}/portal/_content/doc-{uuid.uuid4().hex[:8]}"
    stored = await admin.put(doc_url, content=b"%PDF das", headers={"content-type": "application/pdf"})
    assert stored.status_code == 204
    assert await portal.fetch_content(doc_url, max_size=8) == b"%PDF das"
    with pytest.raises(ResponseTooLarge):  # over the document size limit: refused, not read
        await portal.fetch_content(doc_url, max_size=7)
    with pytest.raises(PermanentPartnerError) as gone:
        await portal.fetch_content(f"{sandbox.url}/portal/_content/never-stored", max_size=MiB)
    assert (gone.value.status, gone.value.code) == (404, "content_unavailable")
    await set_portal_faults(admin, error_rate=1.0)
    with pytest.raises(TransientPartnerError) as flaky:
        await portal.fetch_content(doc_url, max_size=MiB)
    assert flaky.value.code == "content_unavailable"
