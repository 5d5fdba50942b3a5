"""Engine and sessions. Services never commit: the request (or the job) boundary does, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from gateway.queue import Queue


def async_url(url: str) -> str:
    """Accept the usual ``postgresql://`` / ``postgres://`` URLs and use asyncpg for them."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Database:
    """One engine per process, and the unit of work that commits then enqueues."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool, with each checkout in autocommit: reads need no BEGIN/COMMIT.
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )

    @asynccontextmanager
    async def unit_of_work(self, queue: Queue | None = None) -> AsyncIterator[AsyncSession]:
        """Commit once at the end; jobs buffered on the session are enqueued only after commit."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await self.commit(session, queue)

    async def commit(self, session: AsyncSession, queue: Queue | None = None) -> None:
        """Commit, then enqueue the jobs buffered on the session.

        Enqueueing after commit means a worker never picks up a task row it cannot see yet; if
        the enqueue itself fails, the row is already durable and the sweeper dispatches it.
        """
        await session.commit()
        if queue is not None:
            await queue.flush(session)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection without BEGIN/COMMIT: each statement commits on its own.

        For single statements that are atomic by themselves (a task claim, an intake batch, a
        read): a transaction around them only adds two round trips.
        """
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """A pooled connection as the bare asyncpg connection, for what SQLAlchemy does not
        expose: COPY streams and exported snapshots (the reconciliation matcher). The caller
        opens and ends its own transactions on it."""
        async with self.autocommit() as conn:
            raw = await conn.get_raw_connection()
            yield raw.driver_connection

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: statements run without BEGIN/COMMIT, one round trip each."""
        async with self.read_sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
