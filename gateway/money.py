"""The one ``Money`` every API shape uses: integer minor units and a currency."""

from __future__ import annotations

import msgspec


class Money(msgspec.Struct, frozen=True):
    """An amount in integer minor units (cents, centavos, grosze) of an ISO 4217 currency."""

    amount_cents: int
    currency: str | None  # ISO 4217 code; null when the partner did not say
