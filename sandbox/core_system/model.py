"""How a core-system record is derived from (operator, entity, index, version) without storing it.

Every entity is an index space ``0..size``. Record ``i`` has a stable id (prefix + zero-padded
index, so ids sort like indices) and a base ``updated_at`` that rises with the index, ``TIE``
records per minute: ties on ``updated_at`` are the norm, which is what a watermark must survive.
Only mutations are kept in memory (see ``state.Overlay``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, TypeVar

Record = dict[str, Any]
T = TypeVar("T")

MASK = (1 << 64) - 1
BASE_EPOCH = 1_672_531_200  # 2023-01-01T00:00:00Z: base records were last touched after this
TIE = 3  # records sharing one base updated_at
STEP = 60  # seconds between two base updated_at values
DAY0 = date(2020, 1, 1).toordinal()


def mix(a: int, b: int) -> int:
    """splitmix64 of two integers: cheap, well spread, identical on every run and machine."""
    z = (a * 0x9E3779B97F4A7C15 + b + 1) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def base_updated_at(index: int) -> int:
    return BASE_EPOCH + (index // TIE) * STEP


@lru_cache(maxsize=200_000)
def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def ident(prefix: str, index: int) -> str:
    return f"{prefix}{index:08d}"


def pick(options: Sequence[T], h: int, shift: int = 0) -> T:
    return options[(h >> shift) % len(options)]


def day(h: int, span_days: int = 2000, start: int = DAY0) -> str:
    return date.fromordinal(start + h % span_days).isoformat()


def money(cents: int) -> Record:
    return {"amount": cents, "currency": "BRL"}


def digits(h: int, n: int) -> str:
    return str(h % 10**n).zfill(n)


@dataclass(frozen=True)
class Population:
    """Sizes an operator's data is generated at; entity sizes derive from these."""

    beneficiaries: int = 500
    providers: int = 200
    contractors: int | None = None  # default: one contractor per 25 beneficiaries
    tiss_events: int = 1000

    @property
    def families(self) -> int:
        return (self.beneficiaries + 2) // 3

    @property
    def contractor_count(self) -> int:
        return self.contractors if self.contractors is not None else max(1, self.beneficiaries // 25)


# build(index, stable hash, versioned hash, population) -> the entity's own fields
Builder = Callable[[int, int, int, Population], Record]


def never(_index: int) -> bool:
    return False


@dataclass(frozen=True)
class EntitySpec:
    name: str
    prefix: str
    size: Callable[[Population], int]
    build: Builder
    base_gone: Callable[[int], bool] = never  # removed before the sandbox started (cancelled, de-accredited)
    source: str | None = None  # a view shares its source's ids, clock and mutations
    only_gone: bool = False  # the view lists the source's removed records (de-accredited providers)

    @property
    def root(self) -> str:
        return self.source or self.name


def fixed(n: int) -> Callable[[Population], int]:
    return lambda _pop: n


def table(prefix: str, names: Sequence[str], **extra: Any) -> tuple[Callable[[Population], int], Builder]:
    """A small parameter table of the core system (marital status, reasons, types...)."""

    def build(i: int, h: int, hv: int, pop: Population) -> Record:
        return {"code": f"{prefix}{i + 1:03d}", "name": names[i], "active": True, **extra}

    return fixed(len(names)), build
