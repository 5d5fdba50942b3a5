"""arq's worker, made to outlive a Valkey restart.

arq ends its poll loop on the first connection error (python-arq/arq#435, #498), and the
Redis client's own retries (``gateway.queue.redis_settings``) cannot cover it: a command
inside a WATCH transaction is never retried. Here a poll that loses Valkey is logged and
tried again; jobs already running carry on, since they need PostgreSQL, not Valkey. What
the queue lost while it was down, the sweeper dispatches again from PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import arq.worker
import redis.exceptions
import structlog

from gateway.outages import is_outage

log = structlog.get_logger("ponte.worker")

POLL_PAUSE_SECONDS = 1.0


def lost_valkey(exc: BaseException) -> bool:
    # redis-py turns a connection error under WATCH into a WatchError ("retry the transaction").
    if isinstance(exc, redis.exceptions.WatchError) and exc.__context__ is not None:
        return is_outage(exc.__context__)
    return isinstance(exc, redis.exceptions.RedisError) and is_outage(exc)


class Worker(arq.worker.Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except Exception as exc:
            if lost_valkey(exc):
                # arq took a slot for the job it was starting; that job never started, so
                # the slot goes back, or each outage would shrink the worker by one.
                self.job_counter -= 1
                self.sem.release()
            raise

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except Exception as exc:
            if not lost_valkey(exc):
                raise
            log.warning("queue_unreachable", error=repr(exc))
            await asyncio.sleep(POLL_PAUSE_SECONDS)


def run(settings_cls: Any, **overrides: Any) -> Worker:
    """``arq.run_worker`` with this worker class."""
    worker = Worker(**{**arq.worker.get_kwargs(settings_cls), **overrides})
    worker.run()
    return worker
