"""Language, catalogues and the tenant's formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from gateway.console.i18n import LOCALES_DIR, Formats, negotiate, translations
from tests.console.helpers import post_form, sign_in
from tests.factories import TenantFactory

CONSOLE = LOCALES_DIR.parent


def console_msgids() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(CONSOLE), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_console_text_has_a_pt_br_translation() -> None:
    with (LOCALES_DIR / "pt_BR" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    msgids = console_msgids()
    assert len(msgids) > 200
    untranslated = sorted(m for m in msgids if not (catalog.get(m) and catalog.get(m).string))  # type: ignore[union-attr]
    assert untranslated == []
    pt = translations("pt_BR")
    assert pt.gettext("Overview") == "Visão geral"
    assert pt.ngettext("{n} template without a folder", "{n} templates without a folder", 2) == "{n} modelos sem pasta"


def test_accept_language_and_the_switch() -> None:
    assert negotiate(None, "pt-BR,pt;q=0.9,en;q=0.8") == "pt_BR"
    assert negotiate(None, "de-DE, en;q=0.5, pt;q=0.4") == "en"
    assert negotiate(None, "en;q=0.2, pt-PT;q=0.9") == "pt_BR"
    assert negotiate(None, "fr, de") == "en"
    assert negotiate("pt_BR", "en") == "pt_BR"  # the switch wins
    assert negotiate("xx", "pt") == "pt_BR"  # an unknown cookie value is ignored


def test_money_and_dates_as_each_tenant_writes_them() -> None:
    br, pt, pl = (
        Formats("pt_BR", "America/Sao_Paulo"),
        Formats("pt_PT", "Europe/Lisbon"),
        Formats("pl_PL", "Europe/Warsaw"),
    )
    assert br.money(123456, "BRL").replace("\xa0", " ") == "R$ 1.234,56"
    assert pt.money(123456, "EUR").replace("\xa0", " ").replace("\u202f", " ") == "1 234,56 €"
    assert pl.money(123456, "PLN").replace("\xa0", " ").replace("\u202f", " ") == "1 234,56 zł"
    moment = datetime(2026, 7, 1, 2, 30, tzinfo=UTC)
    assert br.when(moment).startswith("30/06/2026")  # still the evening before in São Paulo
    assert pt.when(moment).startswith("01/07/") and "03:30" in pt.when(moment)


async def test_pages_use_the_tenants_locale_and_time_zone_in_any_language(
    console: Any, tenants: TenantFactory, operator_headers: dict[str, str]
) -> None:
    t = await tenants.create("apteka-krakow")
    r = await console.patch(
        "/v1/tenants/apteka-krakow", json={"locale": "pl_PL", "timezone": "Europe/Warsaw"}, headers=operator_headers
    )
    assert r.status_code == 200, r.text
    sold_at = datetime.now(UTC).replace(hour=22, minute=30, second=0, microsecond=0) - timedelta(days=1)
    sale = {"sale_id": "S-1", "sold_at": sold_at.isoformat(), "gross_amount_cents": 123456, "installments": 1,
            "brand": "visa", "payment_type": "credit", "nsu": "123456", "authorization_code": "A1B2C3",
            "terminal_id": "T1", "currency": "PLN"}  # fmt: skip
    r = await console.post("/v1/reconciliation/sales", json={"items": [sale]}, headers=t.headers)
    assert r.status_code == 200, r.text
    await sign_in(console, t.key)
    warsaw = sold_at.astimezone(ZoneInfo("Europe/Warsaw"))
    for language in ("en", "pt-BR"):
        page = await console.get("/console/reconciliation/sales/S-1", headers={"accept-language": language})
        assert page.status_code == 200, page.text
        text = page.text.replace("\xa0", " ").replace("\u202f", " ")
        assert "1 234,56 zł" in text  # not R$ 1.234,56 nor PLN 1,234.56
        assert f"{warsaw.day}.{warsaw:%m.%Y}, {warsaw:%H:%M}" in text  # Warsaw's clock, written the Polish way
    assert "Sold at" in (await console.get("/console/reconciliation/sales/S-1", headers={"accept-language": "en"})).text
    await post_form(console, "/console/sign-out")
