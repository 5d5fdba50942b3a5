"""Running the real arq worker inside a test, in burst mode, and as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from arq.worker import Worker

from gateway.runtime import Runtime
from gateway.settings import Settings
from workers.main import run_task


async def run_burst(runtime: Runtime, *, max_burst_jobs: int = -1, **kwargs: Any) -> int:
    """Process the queue until it is empty (deferred retries included); returns jobs completed."""
    worker = Worker(
        functions=[run_task],  # type: ignore[list-item]
        redis_pool=runtime.queue.redis,
        burst=True,
        poll_delay=0.05,
        max_burst_jobs=max_burst_jobs,
        ctx={"runtime": runtime},
        handle_signals=False,
        keep_result=0,
        **kwargs,
    )
    await worker.main()
    return int(worker.jobs_complete)


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PONTE_SECRET_KEY": settings.secret_key,
        "PONTE_TASK_LEASE_SECONDS": str(settings.task_lease_seconds),
        "PONTE_SWEEP_GRACE_SECONDS": str(settings.sweep_grace_seconds),
        "PONTE_SWEEP_INTERVAL_SECONDS": "1",
        "PONTE_LOG_LEVEL": "WARNING",
        "PONTE_EGRESS_ALLOW": settings.egress_allow,
        "PONTE_EGRESS_ALLOW_HTTP": "true" if settings.egress_allow_http else "false",
    }


def start_worker_process(settings: Settings) -> subprocess.Popen[bytes]:
    """A real ``ponte worker`` in its own process, so a test can SIGKILL it."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"], env=worker_env(settings), stdout=subprocess.DEVNULL
    )
