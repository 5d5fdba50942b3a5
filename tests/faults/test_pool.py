"""A process's database connections: a fixed number it keeps, and it keeps working after they
are cut, without a restart."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.db.session import IDLE_PING_SECONDS, Database
from gateway.outages import is_outage


async def test_a_connection_cut_mid_statement_is_not_handed_out_again(settings) -> None:
    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

        async def victim() -> None:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(30)"))

        running = asyncio.create_task(victim())
        await asyncio.sleep(0.5)
        admin = Database(settings.database_url, pool_size=1)
        async with admin.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await admin.dispose()
        with pytest.raises(DBAPIError) as cut:
            await running
        assert is_outage(cut.value)  # a 503 for a client, a retry later for a task
        # The only pooled connection was the cut one: the next checkout gets a live one.
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await db.dispose()


async def test_an_idle_connection_is_checked_after_a_restart(restartable_postgres) -> None:
    db = Database(restartable_postgres.url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))  # one idle connection stays in the pool
        restartable_postgres.stop()
        restartable_postgres.start()
        await asyncio.sleep(IDLE_PING_SECONDS)
        # No error at all: the idle connection is pinged, found dead and replaced.
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()


async def test_a_process_opens_at_most_its_pool_size_and_keeps_those_connections(settings) -> None:
    """Demand above the pool waits for a connection: N processes never open more than N x pool
    size between them (PostgreSQL's max_connections), and a burst forks no short-lived backends."""
    name = f"ponte pool-test {uuid.uuid4().hex[:8]}"
    db = Database(settings.database_url, pool_size=3, name=name)
    admin = Database(settings.database_url, pool_size=1)

    async def busy() -> int:
        async with db.engine.connect() as conn:
            return int((await conn.execute(text("SELECT pg_backend_pid() FROM pg_sleep(0.05)"))).scalar_one())

    async def open_connections() -> int:
        async with admin.engine.connect() as conn:
            sql = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
            return int((await conn.execute(sql, {"name": name})).scalar_one())

    try:
        first = set(await asyncio.gather(*(busy() for _ in range(12))))
        assert len(first) == 3  # twelve at once got three connections, in turn
        assert await open_connections() == 3  # and all three stay open for the next burst
        second = set(await asyncio.gather(*(busy() for _ in range(12))))
        assert second == first  # the same backends: nothing was closed and opened again
    finally:
        await db.dispose()
        await admin.dispose()
