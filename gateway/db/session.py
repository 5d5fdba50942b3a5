"""Engine and sessions. Services never commit: the request (or the job) boundary does, once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.outages import is_outage

if TYPE_CHECKING:
    from gateway.queue import Queue

# A pooled connection that sat unused this long is pinged before use: it may predate a database
# restart. Busy connections are not (a ping is three round trips); one of them failing on a
# restart discards the whole pool instead (``_discard_on_outage``).
IDLE_PING_SECONDS = 1.0

# asyncpg ships the codecs of text[] and oid[] only. Any other array a statement binds or returns
# is looked up with a recursive catalogue query (about 3 ms of PostgreSQL's CPU, with two more
# round trips to turn JIT off and back on), once per connection and per statement that brings a
# new one: four lookups per connection in a worker. Preparing one statement that names them all
# when a connection opens makes that one lookup.
ARRAY_TYPES = ("uuid", "varchar", "jsonb", "bool", "int2", "int4", "int8", "bytea", "timestamptz")
_LEARN_ARRAY_TYPES = "SELECT " + ", ".join(f"${n}::{t}[]" for n, t in enumerate(ARRAY_TYPES, start=1))


def async_url(url: str) -> str:
    """Accept the usual ``postgresql://`` / ``postgres://`` URLs and use asyncpg for them."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _learn_array_types(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _prepare_array_codecs(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.run_async(lambda driver: driver.prepare(_LEARN_ARRAY_TYPES))


def _survive_restarts(engine: AsyncEngine) -> None:
    """Recover from a database restart without restarting the process.

    SQLAlchemy discards a connection (and every older one in the pool) when the driver says it
    is closed, but asyncpg reports a connection cut mid-statement in other ways too (an admin
    shutdown, "another operation is in progress"): those count as disconnects here. A connection
    that was idle is pinged on checkout, so a quiet process meets no dead one after a restart.
    """

    @event.listens_for(engine.sync_engine, "handle_error")
    def _discard_on_outage(context: ExceptionContext) -> None:
        if not context.is_disconnect and is_outage(context.original_exception):
            context.is_disconnect = True

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _note_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in_at", time.monotonic()) < IDLE_PING_SECONDS:
            return
        try:
            engine.sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and checks out a fresh one (PoolEvents.checkout).
            raise exc.DisconnectionError() from error


class Database:
    """One engine per process, and the unit of work that commits then enqueues."""

    def __init__(self, url: str, *, pool_size: int = 20, name: str = "ponte") -> None:
        # ``pool_size`` is the most connections this process opens, and it keeps them: no
        # overflow. Overflow connections are closed as soon as they are returned, so a busy
        # process kept forking PostgreSQL backends, and N processes could open N x 2 x pool_size
        # connections, past PostgreSQL's max_connections ("too many clients already") when a few
        # workers ran at once. Demand above the pool waits for a connection instead (and a wait
        # past ``pool_timeout`` is an outage: a 503, or the task is tried again).
        # ``application_name`` shows in pg_stat_activity which kind of process holds a connection.
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=0,
            pool_pre_ping=False,
            # The connection returned last is used next: under a steady load the same few stay
            # busy (never idle long enough to need ``_ping_if_idle``'s three round trips, their
            # statements prepared), and the rest wait for a burst. First-in-first-out rotated
            # through all of them: 1.8% of a worker's CPU went to pings in bench.document_delivery.
            pool_use_lifo=True,
            connect_args={"server_settings": {"application_name": name}},
        )
        _survive_restarts(self.engine)
        _learn_array_types(self.engine)
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
            try:
                yield raw.driver_connection
            except BaseException as error:
                # SQLAlchemy never saw the driver's error: a connection that died under it must
                # not go back to the pool for the next request to find.
                if is_outage(error):
                    await conn.invalidate()
                raise

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: statements run without BEGIN/COMMIT, one round trip each."""
        async with self.read_sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
