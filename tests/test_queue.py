"""The gateway's enqueue writes jobs exactly as arq's own enqueue_job would, once per job id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from arq.constants import job_key_prefix
from arq.jobs import Job, JobStatus
from arq.utils import to_unix_ms

from gateway.queue import QUEUE_NAME, RUN_TASK, job_id


async def test_dispatch_many_enqueues_each_job_once_as_arq_reads_it(runtime) -> None:  # type: ignore[no-untyped-def]
    queue = runtime.queue
    now, later = uuid.uuid4(), uuid.uuid4()
    run_after = datetime.now(UTC) + timedelta(minutes=10)
    await queue.dispatch_many([(now, 0, None), (later, 2, run_after)])

    for task_id, dispatch in ((now, 0), (later, 2)):
        job = Job(job_id(task_id, dispatch), queue.redis)
        info = await job.info()
        assert info is not None
        assert (info.function, info.args, info.kwargs) == (RUN_TASK, (str(task_id),), {})
        assert await job.status() in (JobStatus.queued, JobStatus.deferred)
        assert await queue.redis.pttl(job_key_prefix + job_id(task_id, dispatch)) > 0
    soon = await queue.redis.zscore(QUEUE_NAME, job_id(now, 0))
    deferred = await queue.redis.zscore(QUEUE_NAME, job_id(later, 2))
    assert deferred == to_unix_ms(run_after)
    assert soon < deferred

    # Sent again (a redelivery, the sweeper): the job already queued stays as it was.
    await queue.dispatch_many([(later, 2, None), (now, 1, None)])
    assert await queue.redis.zscore(QUEUE_NAME, job_id(later, 2)) == deferred
    assert await queue.depth() == 3
    await queue.dispatch_many([])
    assert await queue.depth() == 3
