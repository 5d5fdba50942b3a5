"""What a pooled connection knows when it opens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text

from gateway.db.session import Database

# Every array type Ponte binds or reads back (gateway.db.session.ARRAY_TYPES).
_ARRAYS = text(
    "SELECT CAST(:u AS uuid[]), CAST(:v AS varchar[]), CAST(:j AS jsonb[]), CAST(:b AS bool[]),"
    " CAST(:s AS smallint[]), CAST(:i AS integer[]), CAST(:l AS bigint[]), CAST(:y AS bytea[]),"
    " CAST(:t AS timestamptz[])"
)


async def test_a_new_connection_already_knows_every_array_type(settings, monkeypatch) -> None:
    """asyncpg looks each unknown array type up in the catalogue (a costly query, per
    connection): one lookup when the connection opens, none for the statements after it."""
    db = Database(settings.database_url, pool_size=1)
    lookups: list[Any] = []
    try:
        async with db.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            introspect = asyncpg.Connection._introspect_types

            async def counted(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
                if self is driver:
                    lookups.append(args[0])
                return await introspect(self, *args, **kwargs)

            monkeypatch.setattr(asyncpg.Connection, "_introspect_types", counted)
            now = datetime.now(UTC)
            row = (
                await conn.execute(
                    _ARRAYS,
                    {
                        "u": [uuid.uuid4()],
                        "v": ["a"],
                        "j": ['{"a": 1}'],
                        "b": [True],
                        "s": [1],
                        "i": [2],
                        "l": [3],
                        "y": [b"x"],
                        "t": [now],
                    },
                )
            ).one()
        assert row[1:] == (["a"], [{"a": 1}], [True], [1], [2], [3], [b"x"], [now])
        assert lookups == []
    finally:
        await db.dispose()


async def test_the_connection_returned_last_is_the_one_used_next(runtime) -> None:  # type: ignore[no-untyped-def]
    # A steady load keeps using the same warm connections; the others wait idle for a burst.
    db = runtime.db
    async with db.autocommit() as first, db.autocommit() as second:  # at least two in the pool
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
    used = set()
    for _ in range(5):
        async with db.autocommit() as conn:
            used.add(await conn.scalar(text("SELECT pg_backend_pid()")))
    assert len(used) == 1
