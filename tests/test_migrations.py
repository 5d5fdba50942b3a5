"""Migrations create the whole schema, and go down to base and up again on an empty database."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway import migrate
from gateway.db.session import async_url
from gateway.embedded import EmbeddedServices


def _tables(url: str) -> set[str]:
    async def query() -> set[str]:
        engine = create_async_engine(async_url(url))
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            names = {r[0] for r in rows}
        await engine.dispose()
        return names

    return asyncio.run(query())


def test_upgrade_downgrade_upgrade_on_empty_database() -> None:
    services = EmbeddedServices()
    url = services.start_postgres()
    try:
        migrate.upgrade(url)
        created = _tables(url)
        assert {"tenants", "api_keys", "tasks", "idempotency_keys"} <= created
        migrate.downgrade(url, "base")
        assert _tables(url) <= {"alembic_version"}
        migrate.upgrade(url)
        assert _tables(url) == created
    finally:
        services.stop()


def test_migrations_match_the_models() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import gateway.models  # noqa: F401
    from gateway.db.base import Base

    services = EmbeddedServices()
    url = services.start_postgres()
    try:
        migrate.upgrade(url)

        async def diff() -> list[object]:
            engine = create_async_engine(async_url(url))
            async with engine.connect() as conn:
                result = await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
            await engine.dispose()
            return list(result)

        assert asyncio.run(diff()) == [], "models changed without a migration: autogenerate one"
    finally:
        services.stop()


def test_single_migration_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("postgresql://unused"))
    assert len(script.get_heads()) == 1, "two migration heads: set down_revision to the latest one"
