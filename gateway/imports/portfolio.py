"""Read API over the imported portfolio: policies, their receipts and receipt status history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import NotFound
from gateway.imports import service, settlement
from gateway.imports.models import Policy, PolicyReceipt, PolicySource, ReceiptStatusChange
from gateway.imports.schemas import ImportTask
from gateway.money import Money
from gateway.pagination import PageParams, paginate


class StatusChange(msgspec.Struct):
    from_status: str | None
    to_status: str
    changed_on: date | None
    as_of: datetime
    task_id: uuid.UUID | None


class Receipt(msgspec.Struct):
    receipt_number: str
    due_date: date | None
    amount: Money
    status: str
    status_changed_on: date | None
    as_of: datetime
    status_history: list[StatusChange]
    settled_at: datetime | None = None  # settled at the broker: imports no longer change its status


class ReceiptSettlement(msgspec.Struct, forbid_unknown_fields=True):
    """The receipt as the broker's daily cash sheet settled it."""

    status: Literal["paid", "returned", "cancelled"] = "paid"
    settled_on: date | None = None  # the day it was settled; default today


ReceiptNumber = Annotated[str, Parameter(max_length=100)]


class PolicySummary(msgspec.Struct):
    id: uuid.UUID
    insurer: str
    policy_number: str
    product: str | None
    status: str
    holder_name: str | None
    holder_tax_id: str | None
    holder_tax_id_type: str | None
    start_date: date | None
    end_date: date | None
    premium: Money | None
    updated_on: date | None
    as_of: datetime
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, p: Policy) -> PolicySummary:
        premium = None if p.premium_cents is None else Money(p.premium_cents, p.currency)
        return cls(
            p.id, p.insurer, p.policy_number, p.product, p.status, p.holder_name, p.holder_tax_id, p.holder_tax_id_type,
            p.start_date, p.end_date, premium, p.updated_on, p.as_of, p.created_at, p.updated_at,
        )  # fmt: skip


class PolicyPage(msgspec.Struct):
    items: list[PolicySummary]
    next_cursor: str | None


class PolicySourceRead(msgspec.Struct):
    """A source that read the policy: its insurer's own connection or an aggregator's."""

    source: str
    connection_id: uuid.UUID | None
    first_seen_at: datetime
    last_seen_at: datetime


class PolicyDetail(msgspec.Struct):
    policy: PolicySummary  # ``insurer`` is the underwriting insurer, whoever listed the policy
    receipts: list[Receipt]
    sources: list[PolicySourceRead] = []


async def receipts_of(session: AsyncSession, policy: Policy) -> list[Receipt]:
    where = (PolicyReceipt.tenant_id == policy.tenant_id, PolicyReceipt.insurer == policy.insurer)
    receipts = (
        await session.scalars(
            select(PolicyReceipt)
            .where(*where, PolicyReceipt.policy_number == policy.policy_number)
            .order_by(PolicyReceipt.due_date)
        )
    ).all()
    history: dict[str, list[StatusChange]] = {r.receipt_number: [] for r in receipts}
    changes = await session.scalars(
        select(ReceiptStatusChange)
        .where(
            ReceiptStatusChange.tenant_id == policy.tenant_id, ReceiptStatusChange.insurer == policy.insurer,
            ReceiptStatusChange.receipt_number.in_(list(history)),
        )
        .order_by(ReceiptStatusChange.id)
    )  # fmt: skip
    for c in changes:
        history[c.receipt_number].append(StatusChange(c.from_status, c.to_status, c.changed_on, c.as_of, c.task_id))
    return [
        Receipt(
            r.receipt_number,
            r.due_date,
            Money(r.amount_cents, r.currency),
            r.status,
            r.status_changed_on,
            r.as_of,
            history[r.receipt_number],
            r.settled_at,
        )
        for r in receipts
    ]


async def search_policies(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    insurer: str | None = None,
    status: str | None = None,
    holder_tax_id: str | None = None,
    policy_number: str | None = None,
    updated_since: datetime | None = None,
) -> tuple[list[Policy], str | None]:
    """The tenant's policies, most recently changed first (the API's list and the console's search)."""
    stmt = select(Policy).where(Policy.tenant_id == tenant_id)
    if insurer:
        stmt = stmt.where(Policy.insurer == insurer)
    if status:
        stmt = stmt.where(Policy.status == status)
    if holder_tax_id:
        stmt = stmt.where(Policy.holder_tax_id == holder_tax_id)
    if policy_number:
        stmt = stmt.where(Policy.policy_number == policy_number)
    if updated_since:
        stmt = stmt.where(Policy.updated_at >= updated_since)
    return await paginate(session, stmt, page, order_by=[Policy.updated_at, Policy.id])


async def get_policy(session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> Policy:
    policy = await session.get(Policy, policy_id)
    if policy is None or policy.tenant_id != tenant_id:  # another tenant's policy does not exist for this one
        raise NotFound(f"Policy {policy_id} does not exist.")
    return policy


async def receipt_detail(session: AsyncSession, receipt: PolicyReceipt) -> Receipt:
    policy = await session.scalar(
        select(Policy).where(
            Policy.tenant_id == receipt.tenant_id,
            Policy.insurer == receipt.insurer,
            Policy.policy_number == receipt.policy_number,
        )
    )
    assert policy is not None  # the caller found the receipt through its policy
    return next(r for r in await receipts_of(session, policy) if r.receipt_number == receipt.receipt_number)


class PolicyController(Controller):
    path = "/v1/policies"
    tags = ["Insurer imports"]

    @get("/", operation_id="ListPolicies", summary="Imported policies, most recently changed first")
    async def list_policies(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        insurer: str | None = None,
        status: str | None = None,
        holder_tax_id: str | None = None,
        updated_since: Annotated[
            datetime | None, Parameter(description="Only policies whose content changed since")
        ] = None,
    ) -> PolicyPage:
        rows, cursor = await search_policies(
            session, tenant_id, page, insurer=insurer, status=status, holder_tax_id=holder_tax_id,
            updated_since=updated_since,
        )  # fmt: skip
        return PolicyPage(items=[PolicySummary.from_model(p) for p in rows], next_cursor=cursor)

    @get("/{policy_id:uuid}", operation_id="GetPolicy", summary="A policy with its receipts and their status history")
    async def get_policy(self, session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> PolicyDetail:
        policy = await get_policy(session, tenant_id, policy_id)
        found = await session.scalars(
            select(PolicySource)
            .where(PolicySource.tenant_id == tenant_id, PolicySource.insurer == policy.insurer,
                   PolicySource.policy_number == policy.policy_number)
            .order_by(PolicySource.first_seen_at, PolicySource.id)
        )  # fmt: skip
        sources = [PolicySourceRead(s.source, s.connection_id, s.first_seen_at, s.last_seen_at) for s in found]
        return PolicyDetail(
            policy=PolicySummary.from_model(policy), receipts=await receipts_of(session, policy), sources=sources
        )

    @put(
        "/{policy_id:uuid}/receipts/{receipt_number:str}/settlement", operation_id="SettleReceipt",
        summary="Settle a receipt at the broker (daily cash sheet): imports no longer change its status",
        problems=[409],
    )  # fmt: skip
    async def settle_receipt(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        policy_id: uuid.UUID,
        receipt_number: ReceiptNumber,
        data: ReceiptSettlement,
    ) -> Receipt:
        """An import that later brings another status (an older snapshot, a conflicting one)
        leaves the receipt as it is and reports the conflict in its results (``settled_kept``).
        409 if it is already settled with another status."""
        receipt = await settlement.settle(
            session, tenant_id, policy_id, receipt_number, status=data.status, settled_on=data.settled_on
        )
        return await receipt_detail(session, receipt)

    @delete(
        "/{policy_id:uuid}/receipts/{receipt_number:str}/settlement", operation_id="UnsettleReceipt",
        summary="Undo a settlement: imports may change the receipt again", status_code=200,
    )  # fmt: skip
    async def unsettle_receipt(
        self, session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID, receipt_number: ReceiptNumber
    ) -> Receipt:
        receipt = await settlement.unsettle(session, tenant_id, policy_id, receipt_number)
        return await receipt_detail(session, receipt)

    @post(
        "/{policy_id:uuid}/reimport", operation_id="ReimportPolicy", status_code=202,
        summary="Read the policy's current state from its insurer again",
    )  # fmt: skip
    async def reimport(self, session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> ImportTask:
        return await service.reimport_policy(session, tenant_id, policy_id)
