"""Outbound events: endpoints, the outbox of events, one delivery per (event, endpoint), attempts.

``events`` is the transactional outbox: a row is written by the transaction that causes it, and
its ``body`` is the exact bytes every attempt signs and sends. ``event_deliveries`` is the
per-endpoint state machine (pending → sending → succeeded | failed), claimed with a lease so a
dead worker's deliveries go back to pending. Valkey holds none of this.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, SmallInteger, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, TimestampedMixin, new_id


class EventEndpoint(TimestampedMixin, Base):
    """Where a tenant wants its events: URL, type filter (empty = all) and signing secrets."""

    __tablename__ = "event_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why Ponte (not the tenant) disabled it: failing | gone.
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    # Sealed whsec_ secrets, newest first (same format as inbound endpoints); during a rotation's
    # grace period every active secret signs, so receivers on either secret verify.
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # First failure since the last success; auto-disable counts from here.
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]


class Event(Base):
    """One event, as sent: the envelope bytes are fixed at emit time."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(SmallInteger, default=1)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EventDelivery(Base):
    """An event's delivery to one endpoint: its status, attempt count and next attempt."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        # What the dispatcher claims: due pending rows of one endpoint, oldest first.
        Index(
            "ix_event_deliveries_due",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_event_deliveries_lease", "lease_expires_at", postgresql_where=text("status = 'sending'")),
        Index("ix_event_deliveries_endpoint_status", "endpoint_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("event_endpoints.id", ondelete="CASCADE"))
    # pending | sending | succeeded | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lease_expires_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    succeeded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EventAttempt(Base):
    """One HTTP attempt: when, what came back, how long it took; the body cut to 1 KB."""

    __tablename__ = "event_attempts"
    __table_args__ = (
        Index("ix_event_attempts_delivery", "delivery_id", "attempted_at"),
        Index("ix_event_attempts_endpoint", "endpoint_id", "attempted_at", "id"),
        Index("ix_event_attempts_event", "event_id", "attempted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("event_deliveries.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("event_endpoints.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    attempted_at: Mapped[datetime]
    succeeded: Mapped[bool]
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
