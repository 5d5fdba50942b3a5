"""A portal session remembers names held by viewed files (``RetryingPortalClient``,
gateway/documents/integration.py): a client who views every file gets ``Name (k)`` in one call."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from gateway.documents import integration
from gateway.documents.integration import RetryingPortalClient
from gateway.partners.client_portal import ClientPortalClient
from gateway.runtime import Runtime
from tests.documents.support import sandbox_call, set_portal_client

FOLDER = ["Fiscal", "DAS"]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every portal request sessions send, as ``METHOD path``."""
    sent: list[str] = []
    call = ClientPortalClient._call

    async def counted(self: ClientPortalClient, method: str, path: str, **kwargs: Any) -> Any:
        sent.append(f"{method} {path.rsplit('/', 1)[-1]}")
        return await call(self, method, path, **kwargs)

    monkeypatch.setattr(ClientPortalClient, "_call", counted)
    return sent


@pytest.fixture
async def viewing_client(sandbox) -> tuple[str, str]:
    """A firm and one of its clients who opens every file the moment it lands."""
    firm, client_id = f"viewed{uuid.uuid4().hex[:8]}", f"cli-{uuid.uuid4().hex[:8]}"
    await set_portal_client(sandbox.url, client_id, auto_view=True)
    return firm, client_id


def session(runtime: Runtime, sandbox_url: str, firm: str) -> RetryingPortalClient:
    return RetryingPortalClient(f"{sandbox_url}/portal", f"ptk_{firm}", http=runtime.http, max_in_flight=4)


async def names_in_portal(sandbox_url: str, firm: str, client_id: str) -> dict[str, str]:
    r = await sandbox_call("GET", f"{sandbox_url}/portal/_files", params={"firm": firm, "client_id": client_id})
    return {f["name"]: f["sha256"] for f in r.json()["items"]}


async def test_a_name_seen_viewed_is_numbered_in_one_call(runtime, sandbox, viewing_client, calls) -> None:
    firm, client_id = viewing_client
    portal = session(runtime, sandbox.url, firm)
    first = await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v0")
    calls.clear()
    second = await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v1")
    assert (first.name_used, second.name_used) == ("DAS.pdf", "DAS (1).pdf")
    assert calls == ["POST files"]  # not a refused create, a listing and a create
    fresh = session(runtime, sandbox.url, firm)  # knows nothing: asks the portal
    calls.clear()
    third = await fresh.deliver_file(client_id, FOLDER, "DAS.pdf", b"v2")
    assert third.name_used == "DAS (2).pdf"
    assert calls == ["GET folders", "POST files", "GET files", "POST files"]  # its folder listing aside
    assert len(await names_in_portal(sandbox.url, firm, client_id)) == 3


async def test_bytes_already_under_a_remembered_name_are_not_sent_again(
    runtime, sandbox, viewing_client, calls
) -> None:
    firm, client_id = viewing_client
    portal = session(runtime, sandbox.url, firm)
    await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v0")
    await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v1")
    calls.clear()
    again = await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v1")  # a replay
    assert (again.name_used, again.already_delivered) == ("DAS (1).pdf", True)
    assert calls == []
    assert len(await names_in_portal(sandbox.url, firm, client_id)) == 2


async def test_a_name_another_process_took_is_learned_from_the_409(runtime, sandbox, viewing_client, calls) -> None:
    firm, client_id = viewing_client
    mine, other = session(runtime, sandbox.url, firm), session(runtime, sandbox.url, firm)
    await mine.deliver_file(client_id, FOLDER, "DAS.pdf", b"v0")
    await other.deliver_file(client_id, FOLDER, "DAS.pdf", b"v1")  # takes DAS (1).pdf
    calls.clear()
    placed = await mine.deliver_file(client_id, FOLDER, "DAS.pdf", b"v2")
    assert placed.name_used == "DAS (2).pdf"
    assert calls == ["POST files", "POST files"]  # (1) refused with its holder, then (2)
    names = await names_in_portal(sandbox.url, firm, client_id)
    assert sorted(names) == ["DAS (1).pdf", "DAS (2).pdf", "DAS.pdf"]
    assert names["DAS (2).pdf"] == placed.sha256


async def test_a_remembered_name_is_asked_again_after_a_while(
    runtime, sandbox, viewing_client, calls, monkeypatch
) -> None:
    firm, client_id = viewing_client
    portal = session(runtime, sandbox.url, firm)
    await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v0")
    monkeypatch.setattr(integration, "VIEWED_NAMES_SECONDS", 0.0)  # a client may have deleted it since
    calls.clear()
    placed = await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v1")
    assert placed.name_used == "DAS (1).pdf"
    assert calls == ["POST files", "GET files", "POST files"]


async def test_an_unviewed_name_is_not_remembered(runtime, sandbox, calls) -> None:
    firm, client_id = f"unviewed{uuid.uuid4().hex[:8]}", f"cli-{uuid.uuid4().hex[:8]}"
    portal = session(runtime, sandbox.url, firm)
    await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v0")
    calls.clear()
    replaced = await portal.deliver_file(client_id, FOLDER, "DAS.pdf", b"v1")
    assert (replaced.name_used, replaced.replaced) == ("DAS.pdf", True)
    assert calls == ["POST files", "GET files", "PUT " + replaced.file_id]


async def test_deliveries_of_one_name_take_turns_in_a_session(runtime, sandbox, viewing_client, calls) -> None:
    """Five at once: each starts from what the one before it learned, so none is refused."""
    firm, client_id = viewing_client
    portal = session(runtime, sandbox.url, firm)
    await portal.ensure_folder_path(client_id, FOLDER)
    calls.clear()
    placed = await asyncio.gather(
        *(portal.deliver_file(client_id, FOLDER, "DAS.pdf", f"v{i}".encode()) for i in range(5)),
        portal.deliver_file(client_id, FOLDER, "DARF.pdf", b"other"),
    )
    assert sorted(p.name_used for p in placed[:5]) == [
        "DAS (1).pdf",
        "DAS (2).pdf",
        "DAS (3).pdf",
        "DAS (4).pdf",
        "DAS.pdf",
    ]
    assert placed[5].name_used == "DARF.pdf"
    assert calls == ["POST files"] * 6  # no refused create, no listing
    assert portal._naming == {}  # a name's turns are dropped once its deliveries are done
    assert len(await names_in_portal(sandbox.url, firm, client_id)) == 6
