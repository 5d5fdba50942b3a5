"""Languages, message catalogues and the tenant's formats for the console.

Texts are English msgids in the code and templates, translated from gettext catalogues under
``locales/`` (compiled in memory at start-up, so no binary .mo is committed and none can go
stale). The language comes from the switch (a cookie) or ``Accept-Language``; dates, times and
money follow the tenant's locale and time zone, whatever language the person reads in.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_currency_precision
from babel.support import NullTranslations, Translations

from gateway.tenants.schemas import DEFAULT_LOCALE, DEFAULT_TIMEZONE

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"
# The languages a person can pick, each named in itself.
LANGUAGES = {"en": "English", "pt_BR": "Português (Brasil)"}
LANGUAGE_COOKIE = "ponte_console_lang"


@cache
def translations(language: str) -> NullTranslations:
    po = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The switch wins; otherwise the first language of Accept-Language we have, by q."""
    if cookie in LANGUAGES:
        return cookie
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        wanted.append((-q, i, tag.strip().lower()))
    for _, _, tag in sorted(wanted):
        if tag.startswith("pt"):
            return "pt_BR"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Formats:
    """Dates and money as the tenant's users write them (``R$ 1.234,56``, ``1234,56 zł``)."""

    locale: str = DEFAULT_LOCALE
    timezone: str = DEFAULT_TIMEZONE

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def when(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, "short", tzinfo=self.tz, locale=self.locale)

    def day(self, value: date | None) -> str:
        return "—" if value is None else format_date(value, "short", locale=self.locale)

    def money(self, minor: int | None, currency: str) -> str:
        if minor is None:
            return "—"
        digits = get_currency_precision(currency)
        return format_currency(minor / 10**digits, currency, locale=self.locale)

    def number(self, value: int | float | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.locale)

    def today(self) -> date:
        """The tenant's today, for default periods."""
        return datetime.now(self.tz).date()


def display_name(language: str) -> str:
    return Locale.parse(language).get_display_name(language) or language


def N_(message: str) -> str:  # noqa: N802 - gettext's marker name, known to the extractor
    """Marks a msgid for extraction; it is translated where it is shown."""
    return message


LABELS = {
    "status": {
        "queued": N_("Queued"),
        "running": N_("Running"),
        "succeeded": N_("Succeeded"),
        "partially_succeeded": N_("Partially succeeded"),
        "failed": N_("Failed"),
        "cancelled": N_("Cancelled"),
    },
    "kinds": {
        "import.run": N_("Insurer import"),
        "portal.sync": N_("Portal sync"),
        "portal.request.export": N_("Portal request export"),
        "documents.deliver": N_("Document delivery"),
        "reconciliation.run": N_("Reconciliation run"),
        "webhook.process": N_("Webhook event"),
        "system.echo": N_("System check"),
    },
    "freshness": {"fresh": N_("fresh"), "late": N_("late"), "error": N_("error"), "on_demand": N_("on demand")},
    "frequency": {"on_demand": N_("on demand"), "hourly": N_("hourly"), "daily": N_("daily"), "weekly": N_("weekly")},
    "group": {
        "complete": N_("Complete"),
        "beneficiary": N_("Beneficiary"),
        "provider": N_("Provider"),
        "contractor": N_("Contractor"),
    },
    "direction": {
        "import": N_("import into the portal"),
        "export": N_("export to the core system"),
        "status": N_("status update"),
    },
    "mode": {"full": N_("full"), "incremental": N_("incremental (changed since)")},
    "delivery": {
        "pending": N_("Pending"),
        "sending": N_("Sending"),
        "succeeded": N_("Delivered"),
        "failed": N_("Failed"),
    },
    "disabled_reason": {
        "failing": N_("by Ponte: failing for days"),
        "gone": N_("by Ponte: the endpoint answered 410 Gone"),
    },
}
