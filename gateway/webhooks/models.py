from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, TimestampedMixin, new_id
from gateway.db.compressed import CompressedBytes


class WebhookEndpoint(TimestampedMixin, Base):
    """Where one partner (a source) posts to one tenant, with the secrets it signs with."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    # [{"token": Fernet-encrypted whsec_ secret, "created_at": iso, "expires_at": iso | null}],
    # newest first. Old secrets stay valid until expires_at (rotation grace period).
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)


class WebhookEvent(Base):
    """One delivery as received: stored before the 2xx, unique per (endpoint, webhook-id)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "webhook_id"),
        Index("ix_webhook_events_tenant_received", "tenant_id", "received_at", "id"),
        Index("ix_webhook_events_status", "tenant_id", "status", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(100))
    webhook_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str | None] = mapped_column(String(100))
    # received → processed | failed; rejected = stored for audit, never processed.
    status: Mapped[str] = mapped_column(String(16))
    # As received; stored LZ4-compressed when that pays (gateway/db/compressed.py).
    body: Mapped[bytes] = mapped_column(CompressedBytes)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    # What intake answered the first time, replayed to redeliveries.
    intake_status: Mapped[int] = mapped_column(default=202)
    intake_problem: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    task_id: Mapped[uuid.UUID | None]
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    processed_at: Mapped[datetime | None]
