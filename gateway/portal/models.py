"""Portal synchronisation tables: the core-system connection, per-sync state, synced records,
failed records of a run, and the requests the portal exports with their history.

A sync run is a foundation ``Task`` (kind ``portal.sync``, subject = sync key); nothing here
duplicates its status or counters.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, TimestampedMixin, new_id


class CoreSystemConnection(TimestampedMixin, Base):
    """One per tenant. ``checked_ok`` is reset whenever the address or token changes."""

    __tablename__ = "portal_connections"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    base_url: Mapped[str] = mapped_column(String(500))
    credentials: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of {"token": ...}
    checked_at: Mapped[datetime | None]
    checked_ok: Mapped[bool] = mapped_column(default=False)
    check_error: Mapped[str | None] = mapped_column(Text)
    # What the core system declared at the last check: its edition ("MG", "standard"), and the
    # version of its TISS tables Ponte last started the TISS sync for (see portal.tables).
    edition: Mapped[str | None] = mapped_column(String(32))
    tables_version: Mapped[int | None]


class SyncState(TimestampedMixin, Base):
    """What Ponte keeps per (tenant, sync): schedule, watermark and the run in progress."""

    __tablename__ = "portal_sync_states"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    sync_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    frequency: Mapped[str] = mapped_column(String(16), default="on_demand")
    heavy_acknowledged: Mapped[bool] = mapped_column(default=False)
    schedule_updated_at: Mapped[datetime | None]
    # Start of the last schedule tick a run was created for (so one tick never runs twice).
    last_tick_at: Mapped[datetime | None]
    # Core-system time up to which every change is stored; only written in the same
    # transaction as the records it covers.
    watermark: Mapped[datetime | None]
    current_task_id: Mapped[uuid.UUID | None]


class SyncedRecord(Base):
    """One record of one core-system entity, as last seen; ``hash`` is over its content."""

    __tablename__ = "portal_records"
    # Partial expression indexes for the read API's relations; only rows carrying the field
    # pay for them, so a full beneficiary import maintains one extra index, not three.
    __table_args__ = tuple(
        Index(
            f"ix_portal_records_{field}",
            "tenant_id",
            "entity",
            text(f"(data ->> '{field}')"),
            postgresql_where=text(f"data ? '{field}'"),
        )
        for field in ("family_id", "beneficiary_id", "provider_id")
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    hash: Mapped[str] = mapped_column(String(32))
    updated_at_source: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    last_task_id: Mapped[uuid.UUID | None]
    synced_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SyncFailure(Base):
    """A record a run could not apply, with why."""

    __tablename__ = "portal_sync_failures"
    __table_args__ = (Index("ix_portal_sync_failures_task", "task_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str] = mapped_column(Text)
    record: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PortalRequest(TimestampedMixin, Base):
    """A request made in the portal (card copy, registration change, new members...)."""

    __tablename__ = "portal_requests"
    __table_args__ = (
        Index("ix_portal_requests_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_portal_requests_pending", "tenant_id", "kind", postgresql_where="export_status = 'pending'"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    export_status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | exported | failed
    export_error: Mapped[str | None] = mapped_column(Text)
    exported_at: Mapped[datetime | None]
    protocol: Mapped[str | None] = mapped_column(String(64))
    situation: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    situation_at: Mapped[datetime | None]


class PortalRequestEvent(Base):
    """One step of a request's life; a step is recorded once however often it is re-read."""

    __tablename__ = "portal_request_events"
    __table_args__ = (UniqueConstraint("request_id", "step"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("portal_requests.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(32))  # created | exported | received | in_analysis | ...
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    detail: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[uuid.UUID | None]
