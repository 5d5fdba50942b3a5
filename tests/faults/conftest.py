from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from gateway import migrate
from gateway.db.base import Base
from gateway.db.session import Database
from gateway.settings import Settings
from sandbox.server import SandboxServer
from tests.faults.stack import FaultStack, RestartablePostgres, RestartableValkey


@pytest.fixture(scope="session")
def restartable_postgres() -> Iterator[RestartablePostgres]:
    """A PostgreSQL of the fault tests' own: restarting the session's would disturb the others."""
    postgres = RestartablePostgres(Path(tempfile.mkdtemp(prefix="ponte-faults-")) / "postgres")
    try:
        migrate.upgrade(postgres.url)
        yield postgres
    finally:
        postgres.close()


async def empty_database(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        await db.dispose()


@pytest.fixture
def valkey_persist() -> bool:
    """Whether the test's Valkey keeps an append-only file (parametrize to change it)."""
    return False


@pytest.fixture
async def fault_stack(restartable_postgres: RestartablePostgres, valkey_persist: bool) -> AsyncIterator[FaultStack]:
    """The fault tests' PostgreSQL (emptied), a fresh Valkey, and the processes the test starts."""
    if not restartable_postgres.running:
        restartable_postgres.start()  # a test that failed half-way left it stopped
    await empty_database(restartable_postgres.url)
    valkey = RestartableValkey(Path(tempfile.mkdtemp(prefix="ponte-faults-valkey-")), persist=valkey_persist)
    stack = FaultStack(restartable_postgres, valkey)
    try:
        yield stack
    finally:
        stack.stop_processes()
        valkey.close()


def stack_settings(stack: FaultStack, settings: Settings, sandbox: SandboxServer, **overrides: object) -> Settings:
    return msgspec.structs.replace(
        settings,
        database_url=stack.postgres.url,
        redis_url=stack.valkey.url,
        sandbox_url=sandbox.url,
        sweep_interval_seconds=1,
        log_level="WARNING",
        **overrides,
    )


async def queue_depth(url: str) -> int:
    redis = Redis.from_url(url)
    try:
        return int(await redis.zcard("arq:queue"))
    finally:
        await redis.aclose()
