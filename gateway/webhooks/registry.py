"""Capabilities register what to do with each event type; the inbox worker dispatches.

A handler runs inside the ``webhook.process`` task of one stored event. It may run more than
once for the same event (a crash, a replay), so its effects must be idempotent — key them on
the event (``event.id``) or on the partner's natural keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.tasks.runner import TaskContext


@dataclass(frozen=True)
class InboundEvent:
    id: uuid.UUID  # Ponte's id for the stored event
    tenant_id: uuid.UUID
    endpoint_id: uuid.UUID
    source: str  # "task-system", "boavista", "insurer:<code>"
    type: str
    webhook_id: str  # the partner's message id
    received_at: datetime
    data: Any  # the decoded payload, an instance of the type's schema (gateway.webhooks.events)


EventHandler = Callable[["TaskContext", InboundEvent], Coroutine[Any, Any, None]]
# Handles several events of one type (one tenant's, from one processing run) at once; returns
# what each one raised (None: handled), in order.
BatchEventHandler = Callable[["TaskContext", list[InboundEvent]], Coroutine[Any, Any, list[Exception | None]]]

EVENT_HANDLERS: dict[str, EventHandler] = {}
_BATCH_HANDLERS: dict[str, tuple[EventHandler, BatchEventHandler]] = {}


def event_handler(event_type: str) -> Callable[[EventHandler], EventHandler]:
    def register(fn: EventHandler) -> EventHandler:
        EVENT_HANDLERS[event_type] = fn
        return fn

    return register


def event_batch_handler(event_type: str, single: EventHandler) -> Callable[[BatchEventHandler], BatchEventHandler]:
    """A type's handler for a run's events together, beside its ``single`` (one-event) handler."""

    def register(fn: BatchEventHandler) -> BatchEventHandler:
        _BATCH_HANDLERS[event_type] = (single, fn)
        return fn

    return register


def handler_for(event_type: str) -> EventHandler | None:
    return EVENT_HANDLERS.get(event_type)


def batch_handler_for(event_type: str) -> BatchEventHandler | None:
    """The type's batch handler, while its registered one-event handler is the one it goes with
    (a test that swaps the handler swaps the batch off too)."""
    pair = _BATCH_HANDLERS.get(event_type)
    return pair[1] if pair is not None and EVENT_HANDLERS.get(event_type) is pair[0] else None
