"""A real ``ponte worker`` whose remittance.returned handler has an observable effect.

Run as ``python -m tests.webhooks.crash_worker``: every handled event inserts into
``crash_effects`` (unique per event: the idempotent effect) and ``crash_calls`` (every call).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

import gateway.jobs  # noqa: F401 - register capabilities first, then take over the one event type
from gateway.webhooks.registry import EVENT_HANDLERS


async def slow_idempotent_effect(ctx, event) -> None:  # type: ignore[no-untyped-def]
    async with ctx.runtime.db.unit_of_work() as session:
        await session.execute(text("INSERT INTO crash_calls (event_id) VALUES (:id)"), {"id": event.id})
    await asyncio.sleep(0.05)
    async with ctx.runtime.db.unit_of_work() as session:
        await session.execute(
            text("INSERT INTO crash_effects (event_id) VALUES (:id) ON CONFLICT DO NOTHING"), {"id": event.id}
        )


EVENT_HANDLERS["remittance.returned"] = slow_idempotent_effect

if __name__ == "__main__":
    from gateway.cli import main

    main(["worker"])
