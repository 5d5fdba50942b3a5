"""Task kinds the platform itself owns (used by tests and diagnostics)."""

from __future__ import annotations

import asyncio

from gateway.tasks.registry import task_handler
from gateway.tasks.runner import RetryTask, TaskContext, TaskFailed


@task_handler("system.echo")
async def echo(ctx: TaskContext) -> None:
    """Sleep ``seconds`` in ``steps``, reporting progress; then succeed, or fail or retry as
    ``fail`` asks. It exercises the runner end to end without any partner."""
    steps = int(ctx.params.get("steps", 1))
    for step in range(steps):
        await asyncio.sleep(float(ctx.params.get("seconds", 0)) / max(steps, 1))
        await ctx.progress(step + 1, steps)
    if ctx.params.get("fail") == "permanent":
        raise TaskFailed("asked to fail", code="asked")
    if ctx.params.get("fail") == "transient" and ctx.attempt < int(ctx.params.get("succeed_on_attempt", 99)):
        raise RetryTask("asked to retry", defer=float(ctx.params.get("defer", 0.05)))
    ctx.count("echoed")
