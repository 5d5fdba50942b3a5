"""A process keeps working after its database connections are cut, without a restart."""

from __future__ import annotations

import asyncio

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
