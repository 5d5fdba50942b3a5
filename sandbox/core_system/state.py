"""Per-operator state: sizes, the sandbox clock, the mutation overlay and the received requests.

Operators (tenants of the core system) are told apart by their token: ``sandbox-<operator>``
is valid for any operator name, so tests isolate themselves by using a fresh operator.
"""

from __future__ import annotations

import random
import re
import time
import zlib
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.core_system.model import Population, ident

TOKEN = re.compile(r"^sandbox-(?P<operator>[a-z0-9][a-z0-9_-]{0,62})$")
DEFAULT_NOW = 1_748_865_600  # 2025-06-02T12:00:00Z: fixed, so runs are reproducible


@dataclass
class Override:
    version: int
    updated_at: int
    gone: bool


@dataclass
class Overlay:
    """Records changed since start, plus their (updated_at, id, index) keys kept sorted for paging."""

    prefix: str
    changes: dict[int, Override] = field(default_factory=dict)
    keys: list[tuple[int, str, int]] = field(default_factory=list)

    def touch(self, index: int, now: int, *, gone: bool) -> None:
        old = self.changes.get(index)
        if old is not None:
            del self.keys[bisect_left(self.keys, (old.updated_at, ident(self.prefix, index), index))]
        version = old.version + 1 if old else 1
        self.changes[index] = Override(version=version, updated_at=now, gone=gone)
        insort(self.keys, (now, ident(self.prefix, index), index))


@dataclass
class CoreRequest:
    id: str
    kind: str
    subject_id: str | None
    payload: dict[str, Any]
    protocol: str
    received_at: int


EDITIONS = ("standard", "MG")


@dataclass
class Operator:
    name: str
    population: Population = field(default_factory=Population)
    fixed_now: int | None = DEFAULT_NOW  # None follows the wall clock
    overlays: dict[str, Overlay] = field(default_factory=dict)
    requests: dict[str, CoreRequest] = field(default_factory=dict)
    # The product line the operator runs: "MG" systems have features the standard one lacks
    # (seed 001: "Reajustes de plano coletivo" is "somente para os sistemas MG").
    edition: str = "standard"
    # Bumped whenever the TISS event and price tables (TGE) change.
    tables_version: int = 1

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())

    def now(self) -> int:
        return self.fixed_now if self.fixed_now is not None else int(time.time())

    def overlay(self, root: str, prefix: str) -> Overlay:
        return self.overlays.setdefault(root, Overlay(prefix))

    def configure(self, changes: dict[str, Any]) -> None:
        sizes = {k: v for k, v in changes.items() if k in {"beneficiaries", "providers", "contractors", "tiss_events"}}
        unknown = set(changes) - set(sizes) - {"now", "edition", "tables_version"}
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        if any(not isinstance(v, int) or v < 0 for v in sizes.values() if v is not None):
            raise ValueError("sizes must be non-negative integers")
        if "edition" in changes:
            if changes["edition"] not in EDITIONS:
                raise ValueError(f"edition must be one of {EDITIONS}")
            self.edition = changes["edition"]
        if "tables_version" in changes:
            if not isinstance(changes["tables_version"], int) or changes["tables_version"] < 1:
                raise ValueError("tables_version must be a positive integer")
            self.tables_version = changes["tables_version"]
        current = self.population
        self.population = Population(**{**current.__dict__, **sizes})
        if "now" in changes:
            self.fixed_now = None if changes["now"] is None else parse_instant(changes["now"])

    def describe(self) -> dict[str, Any]:
        pop = self.population
        return {
            "operator": self.name,
            "now": iso_now(self),
            "beneficiaries": pop.beneficiaries,
            "providers": pop.providers,
            "contractors": pop.contractor_count,
            "tiss_events": pop.tiss_events,
            "clock": "fixed" if self.fixed_now is not None else "wall",
            "edition": self.edition,
            "tables_version": self.tables_version,
        }


def parse_instant(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def iso_now(operator: Operator) -> str:
    return datetime.fromtimestamp(operator.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CoreSystem:
    operators: dict[str, Operator] = field(default_factory=dict)

    def authenticate(self, authorization: str | None) -> Operator | None:
        scheme, _, token = (authorization or "").partition(" ")
        match = TOKEN.match(token) if scheme.lower() == "bearer" else None
        if match is None:
            return None
        name = match["operator"]
        return self.operators.setdefault(name, Operator(name))


def sample_indices(size: int, count: int, rng: random.Random, skip: set[int]) -> list[int]:
    """``count`` distinct indices not in ``skip``, drawn without building the whole range."""
    chosen: list[int] = []
    seen: set[int] = set()
    budget = count * 20 + 100
    while len(chosen) < count and budget > 0 and len(seen) < size:
        budget -= 1
        index = rng.randrange(size)
        if index in seen or index in skip:
            seen.add(index)
            continue
        seen.add(index)
        chosen.append(index)
    return sorted(chosen)
