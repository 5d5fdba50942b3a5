"""Bytes that Ponte compresses itself, with LZ4, before PostgreSQL stores them.

PostgreSQL compresses a value over about 2 KB with pglz as it writes the row (this build has no
LZ4 support). For the webhook inbox that was most of PostgreSQL's CPU per event: a
task-completed post carrying 10 documents is 29 KB of JSON, and pglz took longer over it than
the rest of the insert (``bench.document_delivery``'s intake: PostgreSQL 222 µs per post, 70
with the body compressed here). LZ4 does the same work in about 4 µs in the gateway, and gives
up as fast on what does not compress (a PDF in base64).

A stored value is an LZ4 frame when compressing saved at least a tenth, else the bytes as
they came. The frame's magic number (``04 22 4D 18``) tells the two apart: the columns that
use this hold JSON, and JSON text never starts with the byte 0x04. Readers get the original
bytes either way, rows written before this included. The column is ``STORAGE EXTERNAL``, so
PostgreSQL does not try pglz again on what LZ4 left (see the migration that set it).
"""

from __future__ import annotations

from typing import Any

import lz4.frame
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

LZ4_MAGIC = b"\x04\x22\x4d\x18"
MIN_BYTES = 2048  # below this PostgreSQL stores a value inline as it is, and so does this
MAX_KEPT = 0.9  # store compressed only if that saves at least a tenth


def compress(value: bytes) -> bytes:
    """What to store for ``value``: its LZ4 frame when that is worth it, else ``value``."""
    if len(value) < MIN_BYTES:
        return value
    packed: bytes = lz4.frame.compress(value, store_size=False)
    return packed if len(packed) <= len(value) * MAX_KEPT else value


def decompress(stored: bytes) -> bytes:
    """The original bytes of a stored value (an LZ4 frame, or bytes stored as they came)."""
    if stored[:4] == LZ4_MAGIC:
        return bytes(lz4.frame.decompress(stored))
    return bytes(stored)


class CompressedBytes(TypeDecorator[bytes]):
    """A ``bytea`` column whose values are compressed on the way in and expanded on the way out."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else compress(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else decompress(value)
