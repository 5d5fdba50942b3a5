"""Tables of the insurer imports: connections, the imported portfolio, and per-record results.

Policies and receipts are keyed on the insurer's own numbers within a tenant, so re-importing
overwrites and never duplicates. Each row keeps the ``as_of`` of the snapshot that wrote it:
the upsert refuses an older snapshot (see ``gateway.imports.upsert``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, TimestampedMixin, new_id


class InsurerConnection(TimestampedMixin, Base):
    """A tenant's access to one insurer: where, as whom (encrypted), with which options, when.

    One per insurer *and option set*: a Warta broker holds a property and a life connection, a
    Hestia broker one per system and brand, each with its own schedule, credentials and history.
    """

    __tablename__ = "insurer_connections"
    __table_args__ = (UniqueConstraint("tenant_id", "insurer", "options"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    insurer: Mapped[str] = mapped_column(String(40))
    base_url: Mapped[str] = mapped_column(String(500))
    credentials: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token, never returned
    options: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    schedule_enabled: Mapped[bool] = mapped_column(default=True)
    schedule_time: Mapped[time] = mapped_column(default=time(6, 0))
    schedule_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # End of the last window imported successfully: the next scheduled run starts here, so a
    # downtime of any length is caught up from PostgreSQL, not from the scheduler's memory.
    covered_until: Mapped[date | None]
    # Whether the stored credentials last worked (a test call or an import), and when; None
    # until they are first used, and again after they change.
    credentials_ok: Mapped[bool | None]
    credentials_checked_at: Mapped[datetime | None]
    credentials_error: Mapped[str | None] = mapped_column(String(64))


class Policy(TimestampedMixin, Base):
    """A policy, keyed on its *underwriting* insurer: read through an aggregator (INSLY...) and
    directly from its insurer, it is one row; ``policy_sources`` lists who read it."""

    __tablename__ = "policies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "insurer", "policy_number"),
        Index("ix_policies_tenant_updated", "tenant_id", "updated_at", "id"),
        Index("ix_policies_tenant_holder", "tenant_id", "holder_tax_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    insurer: Mapped[str] = mapped_column(String(40))
    policy_number: Mapped[str] = mapped_column(String(100))
    product: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(40))
    holder_name: Mapped[str | None] = mapped_column(String(300))
    holder_tax_id: Mapped[str | None] = mapped_column(String(40))
    holder_tax_id_type: Mapped[str | None] = mapped_column(String(10))
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    premium_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    updated_on: Mapped[date | None]  # when the insurer last changed it
    as_of: Mapped[datetime]  # the snapshot this row was written from
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(16))


class PolicyReceipt(TimestampedMixin, Base):
    __tablename__ = "policy_receipts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "insurer", "receipt_number"),
        Index("ix_policy_receipts_policy", "tenant_id", "policy_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    insurer: Mapped[str] = mapped_column(String(40))
    receipt_number: Mapped[str] = mapped_column(String(100))
    policy_number: Mapped[str] = mapped_column(String(100))
    due_date: Mapped[date | None]
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    status_changed_on: Mapped[date | None]
    as_of: Mapped[datetime]
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    # Settled in the broker's daily cash sheet ("folha de caixa diária"): from then on an import
    # never changes its status; one that disagrees is reported as a conflict instead.
    settled_at: Mapped[datetime | None]


class PolicySource(Base):
    """A source that read a policy: the insurer itself, or an aggregator listing it."""

    __tablename__ = "policy_sources"
    __table_args__ = (UniqueConstraint("tenant_id", "insurer", "policy_number", "source"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    insurer: Mapped[str] = mapped_column(String(40))  # the policy's (underwriting) insurer
    policy_number: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(40))  # the connection's insurer code: "insly", "warta"...
    connection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("insurer_connections.id", ondelete="SET NULL"))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    last_task_id: Mapped[uuid.UUID | None]


class ImportPreviewItem(Base):
    """One policy of a preview's list ("Odczytaj listę polis"), with its flags and the record."""

    __tablename__ = "import_preview_items"
    __table_args__ = (Index("ix_import_preview_items_task", "task_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    policy_number: Mapped[str | None] = mapped_column(String(100))
    insurer: Mapped[str | None] = mapped_column(String(40))  # underwriting insurer
    holder_name: Mapped[str | None] = mapped_column(String(300))
    product: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(40))
    updated_on: Mapped[date | None]
    in_ponte: Mapped[bool]  # "already in Ponte"
    changed: Mapped[bool]  # in Ponte, and the insurer's content differs: "changed since the last import"
    preselected: Mapped[bool]  # chosen by default: not in Ponte yet (and readable)
    error: Mapped[str | None] = mapped_column(Text)  # the record cannot be imported as it is
    raw: Mapped[dict[str, object]] = mapped_column(JSONB)


class ReceiptStatusChange(Base):
    """pending → paid / cancelled / returned, one row per transition Ponte applied."""

    __tablename__ = "receipt_status_changes"
    __table_args__ = (Index("ix_receipt_status_changes_receipt", "tenant_id", "insurer", "receipt_number", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    insurer: Mapped[str] = mapped_column(String(40))
    receipt_number: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    changed_on: Mapped[date | None]
    as_of: Mapped[datetime]
    task_id: Mapped[uuid.UUID | None]


class ImportResult(Base):
    """One row per record an import task read (failed receipts get their own row)."""

    __tablename__ = "import_results"
    __table_args__ = (Index("ix_import_results_task", "task_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(10))  # policy | receipt
    policy_number: Mapped[str | None] = mapped_column(String(100))
    receipt_number: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))  # created updated unchanged stale_skipped failed
    error: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[datetime | None]
    # Enough of the raw record to find it at the insurer when it could not be read.
    raw: Mapped[dict[str, object] | None] = mapped_column(JSONB)
