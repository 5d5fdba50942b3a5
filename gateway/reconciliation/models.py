"""Card-sales reconciliation with Boavista (seed 004): settings, ERP sales, acquirer sales,
remittances and Ponte's own matches.

Sales and acquirer records use bigint identity keys: the matcher joins a million of each, and
8-byte keys keep those joins and the match table half the size of uuid ones.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, TimestampedMixin, new_id, utcnow

DEFAULT_TIMEZONE = "America/Sao_Paulo"


class SaleStatus(enum.StrEnum):
    pending = "pending"  # in line for the next remittance
    sent = "sent"  # in a remittance, waiting for Boavista's return
    reconciled = "reconciled"
    divergent = "divergent"  # Boavista said why; a person corrects it (PATCH)
    expired = "expired"  # its window ended unreconciled: needs a person


class EstablishmentSetting(TimestampedMixin, Base):
    """One Boavista establishment per tenant; the integration runs only when enabled."""

    __tablename__ = "reconciliation_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    establishment_code: Mapped[str | None] = mapped_column(String(32))
    api_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    base_url: Mapped[str] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    enabled: Mapped[bool] = mapped_column(default=False)
    webhook_endpoint_id: Mapped[uuid.UUID | None]


class CardFields:
    """What the ERP and the acquirer both record of a card sale: the fields compared, copied
    and matched on. Kept in one place so the two sides cannot drift apart."""

    sold_at: Mapped[datetime]
    local_day: Mapped[date]  # the establishment's calendar day of the sale
    gross_amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    installments: Mapped[int] = mapped_column(SmallInteger)
    brand: Mapped[str] = mapped_column(String(32))
    payment_type: Mapped[str] = mapped_column(String(16))
    nsu: Mapped[str] = mapped_column(String(12))
    authorization_code: Mapped[str] = mapped_column(String(12))
    terminal_id: Mapped[str] = mapped_column(String(32))


CARD_FIELDS = tuple(CardFields.__annotations__)  # their names, in order: upserts, COPY column lists


class CardSale(CardFields, TimestampedMixin, Base):
    """A card sale as the ERP registered it, and where it stands in reconciliation."""

    __tablename__ = "card_sales"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sale_id"),
        Index("ix_card_sales_line", "tenant_id", "status", "window_ends_at"),
        Index("ix_card_sales_queue", "tenant_id", "status", "gross_amount_cents"),
        Index("ix_card_sales_day", "tenant_id", "local_day"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    sale_id: Mapped[str] = mapped_column(String(64))
    # sale, or a receivable that is not one (invoice_payment): matched alike, summed apart.
    kind: Mapped[str] = mapped_column(String(24), default="sale", server_default="sale")
    status: Mapped[str] = mapped_column(String(16), default=SaleStatus.pending)
    reason: Mapped[str | None] = mapped_column(String(32))
    reason_detail: Mapped[str | None] = mapped_column(Text)
    # The acquirer's unique id, once Boavista's return named it: the matcher's tier-1 key.
    acquirer_sale_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)  # bumped by each correction
    window_ends_at: Mapped[datetime]
    remittance_id: Mapped[str | None] = mapped_column(String(64))  # the last remittance it went in


class CardSaleEvent(Base):
    """A sale's history: received, corrected (with the changed fields), sent, returned, requeued
    (its acquirer record arrived after a not_found), send_failed, expired."""

    __tablename__ = "card_sale_events"
    __table_args__ = (Index("ix_card_sale_events_sale", "sale_pk", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sale_pk: Mapped[int] = mapped_column(BigInteger, ForeignKey("card_sales.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int]
    remittance_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class AcquirerSale(CardFields, Base):
    """A sale as an acquirer registered it, fetched from Boavista; only ``acquirer_sale_id`` is unique."""

    __tablename__ = "acquirer_sales"
    __table_args__ = (
        UniqueConstraint("tenant_id", "acquirer_sale_id"),
        Index("ix_acquirer_sales_day", "tenant_id", "local_day"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    establishment_code: Mapped[str] = mapped_column(String(32))
    acquirer_sale_id: Mapped[str] = mapped_column(String(64))
    acquirer: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class SaleMatch(Base):
    """Ponte's matcher: which acquirer record a sale pairs with, by which rule, and what differs.

    Narrow on purpose: a run writes a row per sale (a million at a time), so the rule and the
    differing fields are small codes (``matcher.RULES``, ``matcher.DIFFERENCES``) and tenant and
    day come from the sale. Tiers 1 and 2 are one-to-one by construction; tier 3 rows are
    suggestions, several per sale. Derived data, rewritten by every run for its days: no
    foreign keys or secondary indexes, whose per-row checks would cost more than the matching.
    """

    __tablename__ = "sale_matches"

    sale_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    acquirer_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rule: Mapped[int] = mapped_column(SmallInteger)  # matcher.RULES: 1 acquirer id, 2 key, 3-4 suggestions
    differences: Mapped[int] = mapped_column(SmallInteger, default=0)  # bit flags, matcher.DIFFERENCES


class RemittanceStatus(enum.StrEnum):
    prepared = "prepared"  # items recorded, not yet acknowledged by Boavista
    sent = "sent"
    returned = "returned"
    failed = "failed"  # Boavista refused it for good; its sales went back in line


class Remittance(TimestampedMixin, Base):
    __tablename__ = "remittances"
    __table_args__ = (UniqueConstraint("tenant_id", "remittance_id"), Index("ix_remittances_task", "task_id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # Derived from the task id and a sequence number, so a retried task resends the same id.
    remittance_id: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[uuid.UUID | None]
    establishment_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=RemittanceStatus.prepared)
    protocol: Mapped[str | None] = mapped_column(String(64))
    item_count: Mapped[int] = mapped_column(default=0)
    matched_count: Mapped[int] = mapped_column(default=0)
    divergent_count: Mapped[int] = mapped_column(default=0)
    stale_count: Mapped[int] = mapped_column(default=0)  # results for sales corrected meanwhile
    duplicate_returns: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]


class RemittanceItem(Base):
    """One sale as sent (the exact payload, so a resend is byte-identical) and its result."""

    __tablename__ = "remittance_items"

    remittance_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("remittances.id", ondelete="CASCADE"), primary_key=True)
    sale_pk: Mapped[int] = mapped_column(BigInteger, ForeignKey("card_sales.id", ondelete="CASCADE"), primary_key=True)
    sale_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    result: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    acquirer_sale_id: Mapped[str | None] = mapped_column(String(64))
    applied: Mapped[bool | None]  # False: the sale had moved on (corrected) when the result came
