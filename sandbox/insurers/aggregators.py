"""Aggregators (INSLY, UNILINK, ASF Premium/Hiperio, Skaner2) list policies of many insurers.

Each record names its ``underwriting_insurer``. About one policy in three of an aggregator's
book is also in a direct source's book for the same account: the very record that source
serves (same number, same receipts), so a broker connected to both reads one policy twice.
The rest belong to insurers without a direct source here (PZU, UNIQA, LINK4, Compensa).
"""

from __future__ import annotations

from typing import Any

from sandbox.insurers.catalogue import SOURCES, Source
from sandbox.insurers.portfolio import Portfolio, Skeleton, mix

# Which direct books an aggregator overlaps, with the options that select them.
OVERLAPS: dict[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]] = {
    "insly": (("warta", (("product", "property"),)), ("generali-merkury", ()), ("proama", ())),
    "unilink": (("warta", (("product", "property"),)), ("tuz", ())),
    "asf-premium": (("warta", (("product", "property"),)), ("generali-merkury", ())),
    "skaner2": (("warta", (("product", "property"),)), ("proama", ()), ("tuz", ())),
}
OTHERS = ("pzu", "uniqa", "link4", "compensa")
SALT = 0xA66E6A7


class AggregatorPortfolio(Portfolio):
    def __init__(self, source: Source, account: str, options: dict[str, str], size: int, receipts: int) -> None:
        super().__init__(source, account, options, size, receipts)
        self.directs = [
            Portfolio(SOURCES[code], account, dict(opts), size, receipts) for code, opts in OVERLAPS[source.code]
        ]

    def _direct(self, index: int) -> Portfolio | None:
        h = mix(self.seed ^ index ^ SALT)
        return self.directs[(h >> 8) % len(self.directs)] if h % 3 == 0 else None

    def skeleton(self, index: int) -> Skeleton:
        direct = self._direct(index)
        return direct.skeleton(index) if direct else super().skeleton(index)

    def index_of(self, number: str) -> int | None:
        own = super().index_of(number)
        if own is not None and self._direct(own) is None:
            return own
        for direct in self.directs:
            index = direct.index_of(number)
            if index is not None and self._direct(index) is direct:
                return index
        return None

    def record(self, sk: Skeleton, day: int, as_of: str) -> dict[str, Any]:
        direct = self._direct(sk.serial)
        if direct is not None:
            record = direct.record(sk, day, as_of)
            return {**record, "insurer": self.source.code, "underwriting_insurer": direct.source.code}
        record = super().record(sk, day, as_of)
        record["underwriting_insurer"] = OTHERS[(sk.h >> 36) % len(OTHERS)]
        return record
