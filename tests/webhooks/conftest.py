from __future__ import annotations

from collections.abc import Iterator

import pytest

import gateway.jobs  # noqa: F401 - register every capability first, so the swap below sticks
from gateway.webhooks.events import EVENT_TYPES
from gateway.webhooks.registry import EVENT_HANDLERS


@pytest.fixture(autouse=True)
def inbox_only() -> Iterator[list[tuple[str, str]]]:
    """Inbox tests exercise the inbox: capability handlers are swapped for recorders."""
    calls: list[tuple[str, str]] = []

    async def record(ctx, event) -> None:  # type: ignore[no-untyped-def]
        calls.append((event.type, event.webhook_id))

    saved = dict(EVENT_HANDLERS)
    EVENT_HANDLERS.clear()
    EVENT_HANDLERS.update(dict.fromkeys(EVENT_TYPES, record))
    yield calls
    EVENT_HANDLERS.clear()
    EVENT_HANDLERS.update(saved)
