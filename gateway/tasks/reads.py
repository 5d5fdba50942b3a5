"""Reading one task by id for the API, many concurrent reads per statement.

``GET /v1/tasks/{id}`` is what clients poll while a task runs, so it is the API's hottest read.
Reads that arrive together share a batch: one pooled connection and one statement
(``WHERE id = ANY(:ids)``, prepared once) answer all of them, instead of a checkout, a
transaction and an ORM load each. A read never joins a batch whose statement has already been
sent, so it sees every commit that happened before it arrived, as a read of its own would.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Uuid, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from gateway.db import Database
from gateway.errors import NotFound
from gateway.tasks.models import Task

_BY_IDS = select(*Task.__table__.c).where(Task.id == any_(bindparam("ids", type_=ARRAY(Uuid))))


@dataclass
class TaskReader:
    db: Database
    _pending: dict[uuid.UUID, list[asyncio.Future[Row[Any] | None]]] = field(default_factory=dict)
    _flushers: int = 0

    MAX_FLUSHERS = 2  # one statement in flight while the next batch gathers

    async def get(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Row[Any]:
        """The task's row (attribute access like the model); another tenant's task is NotFound."""
        future: asyncio.Future[Row[Any] | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(task_id, []).append(future)
        if self._flushers < self.MAX_FLUSHERS:
            self._flushers += 1
            asyncio.create_task(self._flush())  # noqa: RUF006 - the futures hold the outcome
        row = await future
        # Another tenant's task is indistinguishable from a missing one.
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"Task {task_id} does not exist.")
        return row

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    async with self.db.autocommit() as conn:
                        rows = {row.id: row for row in await conn.execute(_BY_IDS, {"ids": list(batch)})}
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
