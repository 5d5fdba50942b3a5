"""The sync catalogue against seed 001, which stays the reference: titles are parsed from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.portal.catalogue import REQUEST_KINDS, SYNCS, by_group, get_sync

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
SECTIONS = {
    "Sincronizações completas": "complete",
    "Sincronizações de beneficiário": "beneficiary",
    "Sincronizações de prestador": "provider",
    "Sincronizações de contratante": "contractor",
}
BULLET = re.compile(r"^\*\s+\*\*(?P<title>[^*]+?):?\*\*:?\s*(?P<text>.*)$")
HEAVY = re.compile(r"grande, não recomendado (executar|realizar) diariamente", re.IGNORECASE)


@pytest.fixture(scope="module")
def seed() -> dict[str, list[tuple[str, str]]]:
    """(title, description) per group, in the seed's order."""
    files = sorted(SEEDS.glob("001_*.txt"))
    if not files:
        pytest.skip(f"seed 001 not found under {SEEDS}")
    groups: dict[str, list[tuple[str, str]]] = {}
    current: str | None = None
    for line in files[0].read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = SECTIONS.get(line[3:].strip())
        elif current and (match := BULLET.match(line.strip())):
            groups.setdefault(current, []).append((match["title"].strip(), match["text"].strip()))
    return groups


def test_group_sizes_are_the_seeds() -> None:
    sizes = {group: len(syncs) for group, syncs in by_group().items()}
    assert sizes == {"complete": 8, "beneficiary": 16, "provider": 18, "contractor": 10}
    assert len(SYNCS) == 52


def test_every_seed_title_appears_exactly_once_in_its_group(seed: dict[str, list[tuple[str, str]]]) -> None:
    assert {g: len(items) for g, items in seed.items()} == {"complete": 8, "beneficiary": 16, "provider": 18,
                                                           "contractor": 10}  # fmt: skip
    for group, items in seed.items():
        ours = [s.title for s in by_group()[group]]  # type: ignore[index]
        assert ours == [title for title, _ in items]
    titles = [s.title for s in SYNCS.values()]
    assert len(titles) == len(set(titles))


def test_descriptions_come_from_the_seed_unless_it_has_none(seed: dict[str, list[tuple[str, str]]]) -> None:
    texts = {title: text for items in seed.values() for title, text in items}
    for sync in SYNCS.values():
        if texts[sync.title]:
            assert sync.description_source == "seed", sync.key
            assert sync.description == texts[sync.title]
        else:
            assert sync.description_source == "ponte", sync.key
            assert len(sync.description) > 40
    assert {s.title for s in SYNCS.values() if s.description_source == "ponte"} == {
        "Documentos Pendetes",
        "Saldo Devedor",
    }


def test_heavy_exactly_where_the_seed_warns_against_daily_runs(seed: dict[str, list[tuple[str, str]]]) -> None:
    warned = {title for items in seed.values() for title, text in items if HEAVY.search(text)}
    assert {s.title for s in SYNCS.values() if s.heavy} == warned
    assert len(warned) == 8
    assert all(s.recommended_schedule == "weekly" for s in SYNCS.values() if s.heavy)
    assert get_sync("tiss_price_table.full").recommended_schedule == "on_change"
    assert not get_sync("tiss_price_table.full").heavy


def test_exports_and_status_syncs_name_their_request_kinds() -> None:
    exported: set[tuple[str, ...]] = set()
    tracked: set[tuple[str, ...]] = set()
    for sync in SYNCS.values():
        if sync.direction == "import":
            assert sync.request_kinds == (), sync.key
            assert not sync.entity.startswith("request.")
            continue
        assert sync.request_kinds, sync.key
        assert set(sync.request_kinds) <= set(REQUEST_KINDS)
        assert sync.entity.startswith("request.")
        assert sync.mode == "incremental"
        (exported if sync.direction == "export" else tracked).add(sync.request_kinds)
    # Every exported kind has its situation brought back. The seed lists no export for the
    # beneficiaries' own registration and address changes, only their status syncs.
    assert exported <= tracked
    assert {k for kinds in tracked for k in kinds} == set(REQUEST_KINDS)
    assert tracked - exported == {("beneficiary_registration_change",), ("beneficiary_address_change",)}


def test_changed_syncs_are_incremental_and_complete_ones_full() -> None:
    for sync in by_group()["complete"]:
        assert (sync.mode, sync.direction) == ("full", "import")
        assert sync.key.endswith(".full")
    for sync in SYNCS.values():
        if "Alterad" in sync.title:
            assert sync.mode == "incremental", sync.key
    assert get_sync("beneficiary.registration.changed").entity == "beneficiary"
    with pytest.raises(KeyError):
        get_sync("no.such.sync")
