"""The insurers the sandbox impersonates, as an outside party sees them.

This deliberately repeats the codes in Ponte's own catalogue: the sandbox shares no code with
the gateway, exactly as real insurers don't.
"""

from __future__ import annotations

from typing import NamedTuple


class Source(NamedTuple):
    code: str
    country: str  # pt | pl
    snapshot: str  # as_of_period | current_state
    max_window_days: int
    options: dict[str, tuple[str, ...]]  # allowed values per option key
    required: tuple[str, ...] = ()

    @property
    def protocol(self) -> str:
        return "soap" if self.country == "pt" else "rest"

    @property
    def currency(self) -> str:
        return "EUR" if self.country == "pt" else "PLN"

    @property
    def prefix(self) -> str:
        return "".join(part[:3] for part in self.code.split("-")).upper()


_AS_OF = (
    "allianz asisa asisa-vida caravela fidelidade liberty medis prevoir ocidental una una-seguros zurich zurich-vida"
)
_CURRENT = "ageas april lusitania generali-tranquilidade victoria victoria-vida"
_BRANDS = ("hestia", "mtu", "ycd")

SOURCES: dict[str, Source] = {
    **{c: Source(c, "pt", "as_of_period", 31, {}) for c in _AS_OF.split()},
    **{c: Source(c, "pt", "current_state", 31, {}) for c in _CURRENT.split()},
    **{
        c: Source(c, "pl", "current_state", 16, {})
        for c in ("generali-merkury", "proama", "tuz", "insly", "unilink", "asf-premium")
    },
    "ergo-hestia": Source(
        "ergo-hestia",
        "pl",
        "current_state",
        16,
        {"system": ("iHestia", "iPegaz", "Jupiter", "HestiaBiznes"), "brand": _BRANDS, "identity": _BRANDS},
        ("system",),
    ),
    "skaner2": Source("skaner2", "pl", "current_state", 16, {"app": ("PUNKTA", "ARRANT", "PROFI")}, ("app",)),
    "warta": Source("warta", "pl", "current_state", 16, {"product": ("property", "life")}, ("product",)),
}


# The insurers that push changes as signed webhooks (the same choice as Ponte's catalogue).
REALTIME = frozenset({"allianz", "fidelidade", "zurich", "ageas"})


class OptionError(Exception):
    """The request's options are not acceptable; ``code`` is what the insurer answers."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_options(source: Source, given: dict[str, str]) -> dict[str, str]:
    """The options that shape this source's portfolio, or ``OptionError``."""
    options = {k: v for k, v in given.items() if k in source.options}
    for key in source.required:
        if key not in options:
            raise OptionError("invalid_request", f"option {key!r} is required")
    for key, value in options.items():
        if value not in source.options[key]:
            raise OptionError("invalid_request", f"option {key!r} must be one of {source.options[key]}")
    # Hestia serves MTU/YCD policies only to a session switched to that identity, and Hestia's
    # own policies only to the iHestia identity.
    if source.code == "ergo-hestia" and options.get("brand", "hestia") != options.get("identity", "hestia"):
        raise OptionError("identity_mismatch", "the session identity does not match the requested brand")
    options.pop("identity", None)  # who reads does not change what is read
    return options
