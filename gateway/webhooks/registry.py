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

EVENT_HANDLERS: dict[str, EventHandler] = {}


def event_handler(event_type: str) -> Callable[[EventHandler], EventHandler]:
    def register(fn: EventHandler) -> EventHandler:
        EVENT_HANDLERS[event_type] = fn
        return fn

    return register


def handler_for(event_type: str) -> EventHandler | None:
    return EVENT_HANDLERS.get(event_type)
