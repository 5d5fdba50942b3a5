"""API shapes for card-sales reconciliation. Money is integer cents with a currency."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from gateway.errors import FieldError

Code = Annotated[
    str,
    msgspec.Meta(pattern=r"^[0-9A-Za-z]{1,32}$", description="Boavista establishment code", examples=["1020304050"]),
]
Digits = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,12}$", examples=["004512"])]
AuthorizationCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z]{1,12}$", examples=["A1B2C3"])]
Installments = Annotated[int, msgspec.Meta(ge=1, le=99)]
Cents = Annotated[int, msgspec.Meta(gt=0, le=10**12)]
Brand = Annotated[str, msgspec.Meta(pattern=r"^[a-z_]{2,32}$", description="visa, mastercard, elo, alelo, ...")]
PaymentType = Literal["credit", "debit", "voucher", "digital_wallet"]
SaleStatusName = Literal["pending", "sent", "reconciled", "divergent", "expired"]
# Receivables that are not sales (payments of credit invoices) are matched the same way but
# reported apart in the summary.
ReceivableKind = Literal["sale", "invoice_payment"]


class EstablishmentSettingUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Omitted fields keep their value; enabling needs an establishment code and an API token."""

    enabled: bool
    establishment_code: Code | None = None
    api_token: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None
    base_url: Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=500)] | None = None
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class EstablishmentSetting(msgspec.Struct):
    """The API token is stored encrypted and never returned."""

    establishment_code: str | None
    base_url: str
    timezone: str
    enabled: bool
    has_api_token: bool
    webhook_endpoint_id: uuid.UUID | None
    updated_at: datetime


class CardSaleIn(msgspec.Struct, forbid_unknown_fields=True):
    """One card sale as the ERP registered it."""

    sale_id: Annotated[str, msgspec.Meta(pattern=r"^[\x21-\x7e]{1,64}$", description="the ERP's id; idempotency key")]
    sold_at: Annotated[datetime, msgspec.Meta(tz=True)]
    gross_amount_cents: Cents
    installments: Installments
    brand: Brand
    payment_type: PaymentType
    nsu: Digits
    authorization_code: AuthorizationCode
    terminal_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z-]{1,32}$")]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] = "BRL"
    kind: ReceivableKind = "sale"  # invoice_payment: a credit invoice paid by card, not a sale


# Rows are validated one by one (a bad row must not sink the batch), so the body types them
# loosely and the spec borrows CardSaleIn's JSON schema for documentation.
_ROW_SCHEMA = msgspec.json.schema(CardSaleIn)["$defs"]["CardSaleIn"]


class CardSaleBatch(msgspec.Struct):
    items: Annotated[
        list[dict[str, Any]],
        msgspec.Meta(
            min_length=1,
            max_length=1000,
            extra_json_schema={"description": "Up to 1,000 ERP card sales", "extra": {"items": _ROW_SCHEMA}},
        ),
    ]


class AcceptedSale(msgspec.Struct):
    index: int
    sale_id: str
    outcome: Literal["created", "unchanged"]
    status: SaleStatusName


class RejectedSale(msgspec.Struct):
    index: int
    sale_id: str | None
    errors: list[FieldError]


class CardSaleBatchResult(msgspec.Struct):
    """Every row is in exactly one list; rejected rows carry a JSON pointer per problem."""

    accepted: list[AcceptedSale]
    rejected: list[RejectedSale]


class CardSaleCorrection(msgspec.Struct, forbid_unknown_fields=True):
    """The fields a person may correct; at least one."""

    authorization_code: AuthorizationCode | None = None
    nsu: Digits | None = None
    installments: Installments | None = None
    gross_amount_cents: Cents | None = None
    brand: Brand | None = None


class CardSaleEvent(msgspec.Struct):
    at: datetime
    kind: str
    status: str
    version: int
    remittance_id: str | None
    reason: str | None
    detail: dict[str, Any]


class AcquirerMatch(msgspec.Struct):
    """What Ponte's matcher paired the sale with, and why (tier 3: a suggestion)."""

    tier: int
    rule: str
    differences: list[str]
    acquirer_sale_id: str
    gross_amount_cents: int
    installments: int
    nsu: str
    authorization_code: str
    brand: str


class CardSale(msgspec.Struct):
    sale_id: str
    kind: ReceivableKind
    sold_at: datetime
    local_day: date
    gross_amount_cents: int
    currency: str
    installments: int
    brand: str
    payment_type: str
    nsu: str
    authorization_code: str
    terminal_id: str
    status: SaleStatusName
    reason: str | None
    reason_detail: str | None
    acquirer_sale_id: str | None
    version: int
    window_ends_at: datetime
    remittance_id: str | None
    matches: list[AcquirerMatch] = []
    history: list[CardSaleEvent] | None = None


class CardSalePage(msgspec.Struct):
    items: list[CardSale]
    next_cursor: str | None


class StatusTotal(msgspec.Struct):
    status: SaleStatusName
    count: int
    amount_cents: int


class ReasonTotal(msgspec.Struct):
    reason: str
    count: int
    amount_cents: int


class ReceivableSummary(msgspec.Struct):
    """One kind of receivable that is not a sale, reported apart from the sales."""

    kind: ReceivableKind
    by_status: list[StatusTotal]
    divergent_by_reason: list[ReasonTotal]


class ReconciliationSummary(msgspec.Struct):
    """The day's sales by status and divergence reason; other receivables (``receivables``,
    e.g. credit invoice payments) are counted apart, never in the sales' figures."""

    day: date
    currency: str
    by_status: list[StatusTotal]
    divergent_by_reason: list[ReasonTotal]
    receivables: list[ReceivableSummary] = []


class Remittance(msgspec.Struct):
    remittance_id: str
    establishment_code: str
    status: str
    protocol: str | None
    item_count: int
    matched_count: int
    divergent_count: int
    stale_count: int
    duplicate_returns: int
    error: str | None
    task_id: uuid.UUID | None
    created_at: datetime
    sent_at: datetime | None
    returned_at: datetime | None


class RemittancePage(msgspec.Struct):
    items: list[Remittance]
    next_cursor: str | None
