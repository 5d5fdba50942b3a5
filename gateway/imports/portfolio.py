"""Read API over the imported portfolio: policies, their receipts and receipt status history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import NotFound
from gateway.imports import service
from gateway.imports.models import Policy, PolicyReceipt, ReceiptStatusChange
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


class PolicyDetail(msgspec.Struct):
    policy: PolicySummary
    receipts: list[Receipt]


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
        )
        for r in receipts
    ]


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
        stmt = select(Policy).where(Policy.tenant_id == tenant_id)
        if insurer:
            stmt = stmt.where(Policy.insurer == insurer)
        if status:
            stmt = stmt.where(Policy.status == status)
        if holder_tax_id:
            stmt = stmt.where(Policy.holder_tax_id == holder_tax_id)
        if updated_since:
            stmt = stmt.where(Policy.updated_at >= updated_since)
        rows: list[Policy]
        rows, cursor = await paginate(session, stmt, page, order_by=[Policy.updated_at, Policy.id])
        return PolicyPage(items=[PolicySummary.from_model(p) for p in rows], next_cursor=cursor)

    @get("/{policy_id:uuid}", operation_id="GetPolicy", summary="A policy with its receipts and their status history")
    async def get_policy(self, session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> PolicyDetail:
        policy = await session.get(Policy, policy_id)
        if policy is None or policy.tenant_id != tenant_id:
            raise NotFound(f"Policy {policy_id} does not exist.")
        return PolicyDetail(policy=PolicySummary.from_model(policy), receipts=await receipts_of(session, policy))

    @post(
        "/{policy_id:uuid}/reimport", operation_id="ReimportPolicy", status_code=202,
        summary="Read the policy's current state from its insurer again",
    )  # fmt: skip
    async def reimport(self, session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> ImportTask:
        return await service.reimport_policy(session, tenant_id, policy_id)
