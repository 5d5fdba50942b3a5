"""Run alembic from code: ``ponte migrate``, ``ponte dev`` and the tests use the same path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def _off_loop(fn: Callable[[], None]) -> None:
    # migrations/env.py drives its async engine with asyncio.run(), which cannot nest inside a
    # running loop (an async caller, a test session): give it a thread of its own then.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


def upgrade(database_url: str, revision: str = "head") -> None:
    _off_loop(lambda: command.upgrade(alembic_config(database_url), revision))


def downgrade(database_url: str, revision: str = "base") -> None:
    _off_loop(lambda: command.downgrade(alembic_config(database_url), revision))
