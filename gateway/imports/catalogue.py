"""Every insurer Ponte imports portfolios from (seeds 000 and 002), and the options each accepts.

Snapshot semantics decide how an import may be replayed:

* ``as_of_period``: the insurer answers with the records *as they were* in the requested period
  (seed 000: re-importing July brings back July's pending receipts), so a manual past period is
  chained forward to today and an older snapshot never overwrites a newer one.
* ``current_state``: the insurer always answers with today's state, whatever period is asked.

The Polish sources (seed 002) are ``current_state``: Agent21 reads what the sales application
shows *now* in the browser ("Importuj bieżący stan polisy", import the policy's current state),
and there is no notion of a past view. They are REST sources limited to 16 days per request.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Country = Literal["pt", "pl"]
Protocol = Literal["soap", "rest"]
Snapshot = Literal["as_of_period", "current_state"]

# Portuguese web services are asked for one calendar month at a time: seed 000 reasons in
# months ("forçar a importação para julho"), and 31 days covers any calendar month in one call.
PT_MAX_WINDOW_DAYS = 31
# Seed 002: "Maksymalny okres jednorazowy do importu to 16 dni".
PL_MAX_WINDOW_DAYS = 16

HESTIA_SYSTEMS = ("iHestia", "iPegaz", "Jupiter", "HestiaBiznes")
# Ergo Hestia also issues MTU and YCD policies; each brand is readable only under its identity.
HESTIA_BRANDS = ("hestia", "mtu", "ycd")
HESTIA_IDENTITY_NAMES = {"hestia": "iHestia", "mtu": "MTU", "ycd": "YCD"}


class InsurerOption(msgspec.Struct, frozen=True):
    """One option key an insurer accepts; ``values`` is the closed set of allowed values."""

    key: str
    values: tuple[str, ...]
    required: bool = False
    default: str | None = None
    description: str = ""


class Insurer(msgspec.Struct, frozen=True):
    code: str  # stable slug used in URLs, connections and job ids
    name: str  # as written in the seed
    country: Country
    protocol: Protocol
    snapshot: Snapshot
    max_window_days: int
    realtime: bool = False  # pushes policy/receipt changes as signed webhooks
    application: str | None = None  # the Polish sales application the data is read from
    scope: str = ""  # which products the source covers (seed 002)
    options: tuple[InsurerOption, ...] = ()

    def option(self, key: str) -> InsurerOption | None:
        return next((o for o in self.options if o.key == key), None)

    def endpoint_url(self, root: str) -> str:
        """The insurer's web-service endpoint under an insurers hub (the sandbox in dev/tests)."""
        return f"{root.rstrip('/')}/insurers/{self.protocol}/{self.code}"


# Seed 000 says "some" insurers support real-time record import without naming them. We pick
# four, two of each snapshot kind, so both paths of the real-time flow are exercised.
REALTIME_CODES = frozenset({"allianz", "fidelidade", "zurich", "ageas"})

AS_OF_PERIOD_PT = (
    ("allianz", "Allianz"),
    ("asisa", "Asisa"),
    ("asisa-vida", "Asisa Vida"),
    ("caravela", "Caravela"),
    ("fidelidade", "Fidelidade"),
    ("liberty", "Liberty"),
    ("medis", "Médis"),
    ("prevoir", "Prévoir"),
    ("ocidental", "Ocidental"),
    ("una", "Una"),
    ("una-seguros", "Una Seguros"),
    ("zurich", "Zurich"),
    ("zurich-vida", "Zurich Vida"),
)
CURRENT_STATE_PT = (
    ("ageas", "Ageas"),
    ("april", "April"),
    ("lusitania", "Lusitania"),
    ("generali-tranquilidade", "Generali Tranquilidade"),
    ("victoria", "Victoria"),
    ("victoria-vida", "Victoria Vida"),
)


def _pt(code: str, name: str, snapshot: Snapshot) -> Insurer:
    return Insurer(
        code=code,
        name=name,
        country="pt",
        protocol="soap",
        snapshot=snapshot,
        max_window_days=PT_MAX_WINDOW_DAYS,
        realtime=code in REALTIME_CODES,
    )


def _pl(code: str, name: str, application: str | None, scope: str, *options: InsurerOption) -> Insurer:
    return Insurer(
        code=code,
        name=name,
        country="pl",
        protocol="rest",
        snapshot="current_state",
        max_window_days=PL_MAX_WINDOW_DAYS,
        application=application,
        scope=scope,
        options=options,
    )


POLISH = (
    _pl(
        "ergo-hestia",
        "Ergo Hestia",
        None,
        "wszystkie produkty, w tym MTU i YCD",
        InsurerOption(
            "system", HESTIA_SYSTEMS, required=True, description="Hestia system to read (each is imported separately)"
        ),
        InsurerOption("brand", HESTIA_BRANDS, default="hestia", description="whose policies: Hestia, MTU or YCD"),
        InsurerOption(
            "identity", HESTIA_BRANDS, default="hestia", description="identity the account is switched to in Hestia"
        ),
    ),
    _pl("generali-merkury", "Generali", "Merkury+", "wszystkie produkty indywidualne"),
    _pl("proama", "Proama", "ProAgent", "wszystkie produkty indywidualne"),
    _pl("tuz", "TUZ", "SOBOL", "wszystkie produkty"),
    _pl("insly", "INSLY", None, "produkty komunikacyjne wszystkich zakładów ubezpieczeń"),
    _pl("unilink", "UNILINK", "UniMarket", "wszystkie produkty z UniMarket"),
    _pl("asf-premium", "ASF Premium", "Hiperio", "produkty komunikacyjne z Hiperio"),
    _pl(
        "skaner2",
        "Skaner2",
        "Skaner2",
        "PUNKTA, ARRANT, PROFI",
        InsurerOption("app", ("PUNKTA", "ARRANT", "PROFI"), required=True, description="multi-agency app in Skaner2"),
    ),
    _pl(
        "warta",
        "Warta",
        None,
        "Majątek / Życie",
        InsurerOption("product", ("property", "life"), required=True, description="Majątek (property) or Życie (life)"),
    ),
)

INSURERS: dict[str, Insurer] = {
    i.code: i
    for i in (
        *(_pt(code, name, "as_of_period") for code, name in AS_OF_PERIOD_PT),
        *(_pt(code, name, "current_state") for code, name in CURRENT_STATE_PT),
        *POLISH,
    )
}


def get_insurer(code: str) -> Insurer:
    """The catalogue entry for ``code``; ``KeyError`` when no such insurer exists."""
    return INSURERS[code]


def validate_options(
    insurer: Insurer, options: dict[str, object], *, prefix: str = "/options"
) -> list[tuple[str, str]]:
    """Problems with a connection's options as (JSON pointer, message); empty when valid."""
    problems: list[tuple[str, str]] = []
    allowed = {o.key for o in insurer.options}
    for key in options:
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            problems.append((f"{prefix}/{key}", f"unknown option for {insurer.name} (allowed: {known})"))
    for option in insurer.options:
        value = options.get(option.key)
        if value is None:
            if option.required:
                problems.append((f"{prefix}/{option.key}", f"required, one of: {', '.join(option.values)}"))
        elif value not in option.values:
            problems.append((f"{prefix}/{option.key}", f"must be one of: {', '.join(option.values)}"))
    if insurer.code == "ergo-hestia" and not problems:
        problems.extend(_hestia_identity_problems(options, prefix))
    return problems


def _hestia_identity_problems(options: dict[str, object], prefix: str) -> list[tuple[str, str]]:
    # Seed 002: MTU/YCD policies are readable only after switching the Hestia identity to MTU/YCD,
    # and iHestia/Jupiter policies only under the iHestia identity; Ponte cannot switch it.
    brand = str(options.get("brand", "hestia"))
    identity = str(options.get("identity", "hestia"))
    if brand == identity:
        return []
    need, have = HESTIA_IDENTITY_NAMES[brand], HESTIA_IDENTITY_NAMES[identity]
    what = "Hestia (iHestia/Jupiter)" if brand == "hestia" else need
    return [
        (
            f"{prefix}/identity",
            f"importing {what} policies requires the {need} identity, but the account uses the {have} "
            f"identity; change the identity to {need} in the Hestia application first",
        )
    ]
