"""Templates with their portal folder, the per-tenant portal integration, and deliveries."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ARRAY, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

# Workers import the jobs modules, not gateway.models: the tables our foreign keys point at
# must still be in the metadata when these models are flushed there.
import gateway.tasks.models
import gateway.tenants.models  # noqa: F401
from gateway.db.base import Base, TimestampedMixin, new_id


class DeliveryStatus(enum.StrEnum):
    queued = "queued"
    delivering = "delivering"
    delivered = "delivered"
    skipped = "skipped"
    failed = "failed"


class DocumentTemplate(TimestampedMixin, Base):
    """A document type of the task system; ``folder_path`` None means "Nenhuma pasta selecionada"."""

    __tablename__ = "document_templates"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The name the task system puts in ``documents[].template`` of task-completed events.
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(100))
    folder_path: Mapped[list[str] | None] = mapped_column(ARRAY(String(200)))


class PortalIntegration(TimestampedMixin, Base):
    """One per tenant: where the firm's client portal is and its token (encrypted).

    A firm without a row has the integration on (the seed: new firms start with it enabled),
    but nothing is delivered until ``checked_at`` says the portal accepted the current token.
    """

    __tablename__ = "document_portal_integrations"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    base_url: Mapped[str] = mapped_column(String(500))
    token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True)
    # When the portal last accepted this address and token; cleared when either changes.
    checked_at: Mapped[datetime | None]


class DocumentDelivery(TimestampedMixin, Base):
    """One document of one completed task on its way to the client's portal folder.

    ``content`` holds inline bytes only until they are delivered (or skipped): afterwards the
    row keeps the checksum and size, never the document.
    """

    __tablename__ = "document_deliveries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id", "document_id"),
        Index("ix_document_deliveries_tenant_created", "tenant_id", "created_at"),
        Index("ix_document_deliveries_tenant_status", "tenant_id", "status", "created_at"),
        # Rows up to 8 KB stored as they are: ``content`` lives here for seconds (migration 5c1e8a7d2f46).
        {"postgresql_with": {"toast_tuple_target": 8160}},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]  # the inbox event that announced the completed task
    document_id: Mapped[str] = mapped_column(String(200))
    source_task_id: Mapped[str] = mapped_column(String(200))  # the task system's task
    client_id: Mapped[str] = mapped_column(String(200))
    employee: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime]
    template: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    content_url: Mapped[str | None] = mapped_column(Text)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    expected_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.queued)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    folder_path: Mapped[list[str] | None] = mapped_column(ARRAY(String(200)))  # where it went
    name_used: Mapped[str | None] = mapped_column(String(300))
    portal_file_id: Mapped[str | None] = mapped_column(String(100))
    replaced: Mapped[bool | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    delivered_at: Mapped[datetime | None]
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
