"""The arq queue, seen from the gateway: it only ever carries task ids.

``gateway`` never imports ``workers``; it enqueues by job name. Jobs are buffered on the
database session and sent only after the transaction that created their task commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger("ponte.queue")

RUN_TASK = "run_task"
QUEUE_NAME = "arq:queue"
_BUFFER = "ponte_jobs"


def job_id(task_id: uuid.UUID | str, dispatch: int) -> str:
    """Deterministic: a second enqueue of the same dispatch is a no-op in arq."""
    return f"task:{task_id}:{dispatch}"


def enqueue_after_commit(session: AsyncSession, task_id: uuid.UUID, dispatch: int, run_after: datetime | None = None) -> None:
    session.info.setdefault(_BUFFER, []).append((task_id, dispatch, run_after))


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


class Queue:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis

    @classmethod
    async def connect(cls, url: str) -> Queue:
        return cls(await create_pool(redis_settings(url)))

    async def dispatch(self, task_id: uuid.UUID | str, dispatch: int, run_after: datetime | None = None) -> bool:
        job = await self.redis.enqueue_job(
            RUN_TASK, str(task_id), _job_id=job_id(task_id, dispatch), _defer_until=run_after
        )
        return job is not None

    async def flush(self, session: AsyncSession) -> None:
        """Send the jobs buffered on ``session``; call only after it committed."""
        pending: list[tuple[uuid.UUID, int, datetime | None]] = session.info.pop(_BUFFER, [])
        for task_id, dispatch, run_after in pending:
            try:
                await self.dispatch(task_id, dispatch, run_after)
            except Exception as exc:  # noqa: BLE001 - the task row is durable; the sweeper will dispatch it
                log.warning("enqueue_failed", task_id=str(task_id), error=repr(exc))

    async def depth(self) -> int:
        return int(await self.redis.zcard(QUEUE_NAME))

    async def ping(self) -> Any:
        return await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()
