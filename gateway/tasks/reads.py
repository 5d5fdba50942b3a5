"""Reading one task by id for the API, many concurrent reads per statement.

``GET /v1/tasks/{id}`` is what clients poll while a task runs, so it is the API's hottest read.
Reads that arrive together share a batch: one pooled connection and one statement
(``WHERE id = ANY($1)``, prepared once by asyncpg) answer all of them, instead of a checkout,
a transaction and an ORM load each. The statement goes to the driver directly: SQLAlchemy's
execution path cost more than the read itself. A read never joins a batch whose statement has
already been sent, so it sees every commit that happened before it arrived, as a read of its
own would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import namedtuple
from dataclasses import dataclass, field

from gateway.db import Database
from gateway.errors import NotFound
from gateway.tasks.models import Task

_COLUMNS = [c.name for c in Task.__table__.c]
_BY_IDS = f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE id = ANY($1::uuid[])"


# A task's columns by name, as ``Task.from_model`` reads them. A named tuple's fields are read
# in C; a ``__getattr__`` ran Python for each of the 19 fields of every read.
TaskRow = namedtuple("TaskRow", _COLUMNS)  # type: ignore[misc]
_TENANT_ID = _COLUMNS.index("tenant_id")


@dataclass
class TaskReader:
    db: Database
    _pending: dict[uuid.UUID, list[asyncio.Future[TaskRow | None]]] = field(default_factory=dict)
    _flushers: int = 0

    MAX_FLUSHERS = 2  # one statement in flight while the next batch gathers

    async def get(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> TaskRow:
        """The task's row (attribute access like the model); another tenant's task is NotFound."""
        future: asyncio.Future[TaskRow | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(task_id, []).append(future)
        if self._flushers < self.MAX_FLUSHERS:
            self._flushers += 1
            asyncio.create_task(self._flush())  # noqa: RUF006 - the futures hold the outcome
        row = await future
        # Another tenant's task is indistinguishable from a missing one.
        if row is None or row[_TENANT_ID] != tenant_id:
            raise NotFound(f"Task {task_id} does not exist.")
        return row

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    async with self.db.driver_connection() as conn:
                        rows = {row[0]: TaskRow._make(row) for row in await conn.fetch(_BY_IDS, list(batch))}
                except Exception as exc:
                    for waiters in batch.values():
                        for future in waiters:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for task_id, waiters in batch.items():
                    for future in waiters:
                        if not future.done():
                            future.set_result(rows.get(task_id))
        finally:
            self._flushers -= 1
