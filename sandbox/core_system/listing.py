"""Paging an entity: full listings by id, incremental ones by (updated_at, id) with tombstones.

Base records and the overlay are two streams already in key order; a page merges them. The
cursor is the last key returned, so a page boundary inside a run of equal ``updated_at`` is
exact, and a record mutated while a client pages simply shows up again later with a newer key.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from sandbox.core_system.model import EntitySpec, Record, base_updated_at, ident, iso, mix
from sandbox.core_system.state import Operator, Override


class BadCursorError(ValueError):
    pass


@dataclass
class Page:
    items: list[Record]
    next_cursor: str | None


class EntityListing:
    def __init__(self, operator: Operator, spec: EntitySpec) -> None:
        self.spec = spec
        self.pop = operator.population
        self.size = spec.size(self.pop)
        self.overlay = operator.overlay(spec.root, spec.prefix)
        self.hash_base = mix(operator.seed, zlib.crc32(spec.root.encode()))

    def render(self, index: int, override: Override | None, *, tombstone: bool) -> Record:
        updated = override.updated_at if override else base_updated_at(index)
        record: Record = {"id": ident(self.spec.prefix, index), "updated_at": iso(updated)}
        if tombstone:
            record["deleted"] = True
            return record
        h = mix(self.hash_base, index)
        hv = mix(h, override.version) if override else h
        record["deleted"] = False
        record.update(self.spec.build(index, h, hv, self.pop))
        if self.spec.only_gone:
            record["deaccredited_at"] = record["updated_at"]
        return record

    def gone(self, index: int, override: Override | None) -> bool:
        return override.gone if override else self.spec.base_gone(index)

    def full(self, cursor: str | None, limit: int) -> Page:
        """Live records (or, for an only-gone view, removed ones) in id order."""
        index = decode_full(cursor)
        changes, items = self.overlay.changes, list[Record]()
        while index < self.size and len(items) < limit:
            override = changes.get(index)
            if self.gone(index, override) == self.spec.only_gone:
                items.append(self.render(index, override, tombstone=False))
            index += 1
        return Page(items, f"f.{index}" if index < self.size else None)

    def changed(self, since: int, cursor: str | None, limit: int) -> Page:
        """Records with updated_at >= since, by (updated_at, id); removed ones as tombstones."""
        after = decode_changed(cursor)
        prefix, changes, keys, only_gone = (
            self.spec.prefix,
            self.overlay.changes,
            self.overlay.keys,
            self.spec.only_gone,
        )
        lo = bisect_left(range(self.size), since, key=base_updated_at)
        hi = bisect_left(keys, (since,))
        if after is not None:
            lo = max(lo, bisect_right(range(self.size), after, key=lambda i: (base_updated_at(i), ident(prefix, i))))
            hi = max(hi, bisect_right(keys, (*after, 1 << 62)))
        items: list[Record] = []
        last: tuple[int, str] | None = None
        while True:
            while lo < self.size and (lo in changes or (only_gone and not self.spec.base_gone(lo))):
                lo += 1
            while hi < len(keys) and (keys[hi][2] >= self.size or (only_gone and not changes[keys[hi][2]].gone)):
                hi += 1
            if len(items) >= limit or (lo >= self.size and hi >= len(keys)):
                break
            base_key = (base_updated_at(lo), ident(prefix, lo)) if lo < self.size else None
            if hi < len(keys) and (base_key is None or keys[hi][:2] < base_key):
                index, override = keys[hi][2], changes[keys[hi][2]]
                last = keys[hi][:2]
                hi += 1
            else:
                index, override, last = lo, None, base_key
                lo += 1
            gone = self.gone(index, override)
            items.append(self.render(index, override, tombstone=gone and not only_gone))
        more = lo < self.size or hi < len(keys)
        return Page(items, f"c.{last[0]}.{last[1]}" if more and last is not None else None)


def decode_full(cursor: str | None) -> int:
    if not cursor:
        return 0
    kind, _, value = cursor.partition(".")
    if kind != "f" or not value.isdigit():
        raise BadCursorError(cursor)
    return int(value)


def decode_changed(cursor: str | None) -> tuple[int, str] | None:
    if not cursor:
        return None
    kind, _, rest = cursor.partition(".")
    stamp, _, ident_ = rest.partition(".")
    if kind != "c" or not stamp.isdigit() or not ident_:
        raise BadCursorError(cursor)
    return int(stamp), ident_
