from __future__ import annotations

import pytest

from gateway.imports.catalogue import INSURERS, get_insurer, validate_options

# Seed 000, verbatim lists.
AS_OF_PERIOD = "Allianz, Asisa, Asisa Vida, Caravela, Fidelidade, Liberty, Médis, Prévoir, Ocidental, Una, Una Seguros, Zurich, Zurich Vida"  # noqa: E501
CURRENT_STATE = "Ageas, April, Lusitania, Generali Tranquilidade, Victoria, Victoria Vida"


def names(country: str, snapshot: str) -> list[str]:
    return [i.name for i in INSURERS.values() if i.country == country and i.snapshot == snapshot]


def test_portuguese_lists_match_seed_000_exactly() -> None:
    assert names("pt", "as_of_period") == AS_OF_PERIOD.split(", ")
    assert names("pt", "current_state") == CURRENT_STATE.split(", ")
    assert {i.protocol for i in INSURERS.values() if i.country == "pt"} == {"soap"}


def test_polish_sources_are_rest_with_16_day_windows() -> None:
    polish = {i.code: i for i in INSURERS.values() if i.country == "pl"}
    assert sorted(polish) == sorted(
        ["ergo-hestia", "generali-merkury", "proama", "tuz", "insly", "unilink", "asf-premium", "skaner2", "warta"]
    )
    assert all(i.protocol == "rest" and i.max_window_days == 16 for i in polish.values())
    assert polish["generali-merkury"].application == "Merkury+"
    assert polish["asf-premium"].application == "Hiperio"
    hestia = polish["ergo-hestia"].option("system")
    assert hestia is not None
    assert hestia.values == ("iHestia", "iPegaz", "Jupiter", "HestiaBiznes")
    skaner = polish["skaner2"].option("app")
    assert skaner is not None
    assert skaner.values == ("PUNKTA", "ARRANT", "PROFI")


def test_codes_are_slugs_and_lookup_works() -> None:
    assert all(code == code.lower() and " " not in code for code in INSURERS)
    assert get_insurer("medis").name == "Médis"
    assert get_insurer("allianz").endpoint_url("http://h/") == "http://h/insurers/soap/allianz"
    with pytest.raises(KeyError):
        get_insurer("nope")


def test_realtime_is_some_portuguese_insurers() -> None:
    realtime = {i.code for i in INSURERS.values() if i.realtime}
    assert realtime
    assert all(INSURERS[c].country == "pt" for c in realtime)


def test_options_unknown_key_and_bad_value() -> None:
    assert validate_options(get_insurer("allianz"), {}) == []
    assert validate_options(get_insurer("allianz"), {"x": 1})[0][0] == "/options/x"
    problems = validate_options(get_insurer("ergo-hestia"), {"system": "iFoo"})
    assert [p for p, _ in problems] == ["/options/system"]


def test_warta_product_is_required() -> None:
    warta = get_insurer("warta")
    assert [p for p, _ in validate_options(warta, {})] == ["/options/product"]
    assert validate_options(warta, {"product": "life"}) == []
    assert validate_options(warta, {"product": "car"})[0][0] == "/options/product"


@pytest.mark.parametrize(
    ("brand", "identity", "ok"),
    [
        ("hestia", "hestia", True),
        ("mtu", "mtu", True),
        ("ycd", "ycd", True),
        ("mtu", "hestia", False),
        ("ycd", "mtu", False),
        ("hestia", "ycd", False),
    ],
)
def test_hestia_identity_must_match_brand(brand: str, identity: str, ok: bool) -> None:
    options = {"system": "iHestia", "brand": brand, "identity": identity}
    problems = validate_options(get_insurer("ergo-hestia"), options)
    assert (problems == []) is ok
    if not ok:
        pointer, message = problems[0]
        assert pointer == "/options/identity"
        assert "identity" in message
        assert "change the identity" in message


def test_hestia_mtu_needs_the_mtu_identity_by_default() -> None:
    problems = validate_options(get_insurer("ergo-hestia"), {"system": "iPegaz", "brand": "mtu"})
    assert problems
    assert "requires the MTU identity" in problems[0][1]
