"""The sandbox aggregators overlap the direct insurers' books, and the core system declares its
edition and TISS tables version (what issue 15 items 2, 6 and 7 need from the partners)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxServer

AUTH = ("broker-9", "sandbox")
PERIOD = {"from": "2025-11-09", "to": "2025-11-24"}


@pytest.fixture(autouse=True)
def insurer_config(sandbox: SandboxServer) -> Iterator[None]:
    httpx.put(f"{sandbox.url}/insurers/_config/", json={"today": "2025-11-24", "policies_per_insurer": 600})
    yield
    httpx.delete(f"{sandbox.url}/insurers/_config/")


def listing(sandbox: SandboxServer, source: str, **options: str) -> dict[str, dict[str, Any]]:
    url = f"{sandbox.url}/insurers/rest/{source}/policies"
    items: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params = {**PERIOD, **options, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(url, params=params, auth=AUTH).raise_for_status().json()
        items.update({p["policy_number"]: p for p in page["items"] if p["policy_number"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.parametrize("aggregator", ["insly", "unilink", "asf-premium", "skaner2"])
def test_aggregators_serve_the_direct_books_records_with_their_underwriter(
    sandbox: SandboxServer, aggregator: str
) -> None:
    options = {"app": "PUNKTA"} if aggregator == "skaner2" else {}
    via = listing(sandbox, aggregator, **options)
    direct = listing(sandbox, "warta", product="property")
    common = set(via) & set(direct)
    assert common, "the aggregator must overlap Warta's property book"
    for number in common:
        mirrored = {k: v for k, v in via[number].items() if k not in ("insurer", "underwriting_insurer")}
        assert mirrored == {k: v for k, v in direct[number].items() if k != "insurer"}
        assert via[number]["underwriting_insurer"] == "warta" and via[number]["insurer"] == aggregator
    assert {p["underwriting_insurer"] for p in via.values()} - {"warta", "generali-merkury", "proama", "tuz"}
    one = httpx.get(
        f"{sandbox.url}/insurers/rest/{aggregator}/policies/{next(iter(common))}", params=options, auth=AUTH
    )
    assert one.status_code == 200 and one.json()["underwriting_insurer"] == "warta"
    assert "underwriting_insurer" not in next(iter(direct.values()))


def test_core_system_declares_edition_and_tables_version(sandbox: SandboxServer) -> None:
    headers = {"Authorization": "Bearer sandbox-editions-test"}
    core = f"{sandbox.url}/core"
    health = httpx.get(f"{core}/health", headers=headers).json()
    assert (health["edition"], health["tables_version"]) == ("standard", 1)
    httpx.put(f"{core}/_config", json={"edition": "MG", "tables_version": 7}, headers=headers).raise_for_status()
    health = httpx.get(f"{core}/health", headers=headers).json()
    assert (health["edition"], health["tables_version"]) == ("MG", 7)
    bad = httpx.put(f"{core}/_config", json={"edition": "XP"}, headers=headers)
    assert bad.status_code == 400
