"""What SQL a block of test code makes the runtime's engine run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from gateway.runtime import Runtime


@contextmanager
def recorded_statements(runtime: Runtime) -> Iterator[list[str]]:
    """The statements (their SQL text) executed inside the block, in order."""
    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append(statement)

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", note)
