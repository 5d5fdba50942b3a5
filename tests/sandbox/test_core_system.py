"""The core-system sandbox through the real client: listings, watermarks, requests, failures."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.partners.core_system import CoreRequestSubmission, CoreSystemClient, CoreSystemCredentials
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.portal.catalogue import SYNCS
from sandbox.server import SandboxServer
from tests.loopback import LOOPBACK_EGRESS

T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
_operators = itertools.count()


class Core:
    """One fresh operator: its client, and the test-only controls of the sandbox."""

    def __init__(self, sandbox: SandboxServer, client: CoreSystemClient, token: str) -> None:
        self.url = f"{sandbox.url}/core"
        self.client = client
        self.control = httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {token}"})

    def configure(self, **settings: Any) -> dict[str, Any]:
        response = self.control.put("/_config", json=settings)
        response.raise_for_status()
        return dict(response.json())

    def mutate(self, entity: str, **spec: Any) -> dict[str, Any]:
        response = self.control.post("/_mutate", json={"entity": entity, **spec})
        response.raise_for_status()
        return dict(response.json())

    async def pull(self, entity: str, since: datetime | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        return [r async for page in self.client.iter_pages(entity, since, limit=limit) for r in page]


@pytest.fixture
async def core(sandbox: SandboxServer) -> AsyncIterator[Core]:
    token = f"sandbox-test-{next(_operators)}"
    async with CoreSystemClient(f"{sandbox.url}/core", CoreSystemCredentials(token), egress=LOOPBACK_EGRESS) as client:
        yield Core(sandbox, client, token)


def key(record: dict[str, Any]) -> tuple[str, str]:
    return record["updated_at"], record["id"]


async def test_ping_checks_credentials(core: Core, sandbox: SandboxServer) -> None:
    health = await core.client.ping()
    assert health.status == "ok"
    assert health.now == T0
    async with CoreSystemClient(
        f"{sandbox.url}/core", CoreSystemCredentials("wrong-token"), egress=LOOPBACK_EGRESS
    ) as intruder:
        with pytest.raises(PermanentPartnerError) as caught:
            await intruder.ping()
        assert (caught.value.code, caught.value.status) == ("unauthorized", 401)
        with pytest.raises(PermanentPartnerError, match="401"):
            await intruder.iter_pages("beneficiary").__anext__()


async def test_injected_unavailability_is_transient(core: Core, sandbox: SandboxServer) -> None:
    core.control.put(f"{sandbox.url}/_faults/core", json={"error_rate": 1.0}).raise_for_status()
    with pytest.raises(TransientPartnerError) as caught:
        await core.client.ping()
    assert caught.value.status == 503
    with pytest.raises(TransientPartnerError):
        await core.pull("provider")


async def test_every_catalogue_entity_is_served(core: Core) -> None:
    entities = core.control.get("/").raise_for_status().json()["entities"]
    for sync in SYNCS.values():
        if sync.direction == "import":
            assert sync.entity in entities, sync.key
            first_page = await core.client.iter_pages(sync.entity, limit=5).__anext__()
            assert len(first_page) == min(5, entities[sync.entity]), sync.key
    with pytest.raises(PermanentPartnerError) as caught:
        await core.pull("no_such_entity")
    assert caught.value.code == "not_found"


async def test_full_listing_returns_each_live_record_once(core: Core) -> None:
    records = await core.pull("beneficiary", limit=37)
    ids = [r["id"] for r in records]
    cancelled_at_start = {f"BEN{i:08d}" for i in range(500) if i % 97 == 13}
    assert len(ids) == len(set(ids)) == 500 - len(cancelled_at_start)
    assert ids == sorted(ids)
    assert not cancelled_at_start & set(ids)
    assert not any(r["deleted"] for r in records)
    holder = next(r for r in records if r["relationship"] == "spouse")
    assert holder["holder_id"] in ids
    assert holder["family_id"].startswith("FAM")
    # The same request twice gives the same data: generation is deterministic.
    assert await core.pull("beneficiary", limit=500) == records

    removed = core.mutate("beneficiary", delete=4, seed=1)["deleted"]
    after = {r["id"] for r in await core.pull("beneficiary", limit=200)}
    assert after == set(ids) - set(removed)


async def test_deaccredited_providers_leave_the_network(core: Core) -> None:
    providers = {r["id"] for r in await core.pull("provider")}
    network = {r["id"] for r in await core.pull("care_network")}
    gone = {r["id"] for r in await core.pull("deaccredited_provider")}
    assert providers == network
    assert len(providers) + len(gone) == 200
    assert not providers & gone
    removed = core.mutate("provider", delete=3, seed=2)["deleted"]
    assert {r["id"] for r in await core.pull("deaccredited_provider")} == gone | set(removed)
    assert {r["id"] for r in await core.pull("provider")} == providers - set(removed)


async def test_incremental_returns_exactly_the_changes_with_tombstones(core: Core) -> None:
    before = {r["id"]: r for r in await core.pull("beneficiary")}
    assert await core.pull("beneficiary", T0) == []
    mutation = core.mutate("beneficiary", fraction=0.05, delete=3, seed=7)
    changed, deleted = set(mutation["changed"]), set(mutation["deleted"])
    assert len(changed) == 25
    assert len(deleted) == 3

    # A small page size puts page boundaries inside the run of records sharing updated_at == now.
    records = await core.pull("beneficiary", T0, limit=4)
    assert {r["id"] for r in records} == changed | deleted
    assert len(records) == len(changed | deleted)
    assert [key(r) for r in records] == sorted(key(r) for r in records)
    assert {r["updated_at"] for r in records} == {"2025-06-02T12:00:00Z"}
    for record in records:
        if record["id"] in deleted:
            assert record == {"id": record["id"], "updated_at": record["updated_at"], "deleted": True}
        else:
            assert record["deleted"] is False
            assert record["phone"] != before[record["id"]]["phone"] or record["email"] != before[record["id"]]["email"]
            assert record["name"] == before[record["id"]]["name"]  # stable fields stay put


async def test_watermark_with_overlap_sees_later_changes_once(core: Core) -> None:
    first = set(core.mutate("beneficiary_address", count=10, seed=1)["changed"])
    core.configure(now=(T0 + timedelta(hours=1)).isoformat())
    second = set(core.mutate("beneficiary_address", count=10, seed=2)["changed"])
    later = await core.pull("beneficiary_address", T0 + timedelta(hours=1), limit=3)
    assert {r["id"] for r in later} == second
    # Re-reading from the older watermark (the overlap) sees both batches, each record once.
    both = await core.pull("beneficiary_address", T0, limit=3)
    assert sorted(r["id"] for r in both) == sorted(first | second)


async def test_inclusive_bound_and_ties_in_base_records(core: Core) -> None:
    since = datetime(2023, 1, 1, 0, 10, tzinfo=UTC)  # shared by BEN00000030..32
    one_page = await core.pull("beneficiary", since, limit=1000)
    assert [r["id"] for r in one_page[:3]] == ["BEN00000030", "BEN00000031", "BEN00000032"]
    assert {r["updated_at"] for r in one_page[:3]} == {"2023-01-01T00:10:00Z"}
    assert len(one_page) == 500 - 30
    for size in (1, 2, 4):
        assert await core.pull("beneficiary", since, limit=size) == one_page
    tombstones = [r for r in one_page if r["deleted"]]
    assert {r["id"] for r in tombstones} == {f"BEN{i:08d}" for i in range(30, 500) if i % 97 == 13}


async def test_sizes_are_configurable(core: Core) -> None:
    assert core.configure(beneficiaries=30_000, contractors=100)["beneficiaries"] == 30_000
    records = await core.pull("beneficiary", limit=5000)
    assert len(records) == 30_000 - sum(1 for i in range(30_000) if i % 97 == 13)
    assert records[-1]["id"] == "BEN00029999"
    assert len(await core.pull("contractor")) == 100
    # Base records were last touched long before the sandbox's now: nothing changed lately.
    assert await core.pull("beneficiary", T0 - timedelta(days=30)) == []


async def test_requests_intake_is_idempotent(core: Core) -> None:
    request = CoreRequestSubmission(
        id="portal-1", kind="card_copy", subject_id="BEN00000001", payload={"reason": "Perda"}
    )
    first = await core.client.submit_request(request)
    again = await core.client.submit_request(request)
    assert first == again
    assert (first.situation, first.protocol) == ("received", "202500000001")
    statuses = [s async for page in core.client.iter_request_statuses() for s in page]
    assert [s.id for s in statuses] == ["portal-1"]
    other = CoreRequestSubmission(id="portal-1", kind="card_copy", subject_id="BEN00000002")
    with pytest.raises(PermanentPartnerError) as caught:
        await core.client.submit_request(other)
    assert caught.value.code == "conflict"
    with pytest.raises(PermanentPartnerError) as missing:
        await core.client.get_request("portal-404")
    assert missing.value.code == "not_found"


async def test_request_situations_advance_with_the_clock(core: Core) -> None:
    for n in range(10):
        kind = "new_family" if n % 2 else "provider_address_change"
        await core.client.submit_request(CoreRequestSubmission(id=f"req-{n}", kind=kind))

    async def situations(since: datetime, **kw: Any) -> dict[str, str]:
        return {
            s.id: s.situation async for page in core.client.iter_request_statuses(since, limit=3, **kw) for s in page
        }

    assert set((await situations(T0)).values()) == {"received"}
    core.configure(now=(T0 + timedelta(hours=2)).isoformat())
    assert set((await situations(T0)).values()) == {"in_analysis"}
    assert len(await situations(T0 + timedelta(hours=1))) == 10
    assert await situations(T0 + timedelta(hours=1, seconds=1)) == {}
    core.configure(now=(T0 + timedelta(days=2)).isoformat())
    decided = [s async for page in core.client.iter_request_statuses(T0 + timedelta(days=1)) for s in page]
    assert len(decided) == 10
    assert {s.situation for s in decided} <= {"approved", "rejected"}
    # About one in five is rejected, chosen by a hash of the request id: here req-1.
    assert [s.id for s in decided if s.situation == "rejected"] == ["req-1"]
    for status in decided:
        assert (status.reason is not None) == (status.situation == "rejected")
        assert status.updated_at == T0 + timedelta(days=1)
    assert set(await situations(T0, kinds=["new_family"])) == {f"req-{n}" for n in range(1, 10, 2)}
    assert (await core.client.get_request("req-3")).situation == next(s for s in decided if s.id == "req-3").situation
