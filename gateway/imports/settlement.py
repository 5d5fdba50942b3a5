"""Receipts settled at the broker ("folha de caixa diária", seed 000).

A broker who keeps the daily cash sheet settles a receipt in Ponte; from then on imports never
change its status. The settlement takes the same per-(tenant, insurer) lock as the import's
page writes, so a page that read the receipt before the settlement cannot overwrite it after.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.errors import Conflict, NotFound
from gateway.imports.models import Policy, PolicyReceipt, ReceiptStatusChange
from gateway.imports.upsert import lock_portfolio


async def _receipt(
    session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID, receipt_number: str
) -> PolicyReceipt:
    policy = await session.get(Policy, policy_id)
    if policy is None or policy.tenant_id != tenant_id:
        raise NotFound(f"Policy {policy_id} does not exist.")
    await lock_portfolio(session, tenant_id, policy.insurer)
    receipt = await session.scalar(
        select(PolicyReceipt).where(
            PolicyReceipt.tenant_id == tenant_id,
            PolicyReceipt.insurer == policy.insurer,
            PolicyReceipt.policy_number == policy.policy_number,
            PolicyReceipt.receipt_number == receipt_number,
        )
    )
    if receipt is None:
        raise NotFound(f"Policy {policy.policy_number} has no receipt {receipt_number}.")
    return receipt


async def settle(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    policy_id: uuid.UUID,
    receipt_number: str,
    *,
    status: str,
    settled_on: date | None,
) -> PolicyReceipt:
    """Mark the receipt settled with ``status``; the change joins its status history."""
    receipt = await _receipt(session, tenant_id, policy_id, receipt_number)
    if receipt.settled_at is not None and receipt.status != status:
        raise Conflict(
            f"Receipt {receipt_number} is already settled as {receipt.status}; undo the settlement first.",
            extra={"settled_status": receipt.status},
        )
    if receipt.status != status:
        session.add(
            ReceiptStatusChange(
                tenant_id=tenant_id, insurer=receipt.insurer, receipt_number=receipt_number,
                from_status=receipt.status, to_status=status, changed_on=settled_on or utcnow().date(),
                as_of=utcnow(), task_id=None,
            )
        )  # fmt: skip
        receipt.status = status
        receipt.status_changed_on = settled_on or utcnow().date()
    if receipt.settled_at is None:
        receipt.settled_at = utcnow()
    await session.flush()
    return receipt


async def unsettle(
    session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID, receipt_number: str
) -> PolicyReceipt:
    """Let imports change the receipt again (its status stays until the next import brings one)."""
    receipt = await _receipt(session, tenant_id, policy_id, receipt_number)
    receipt.settled_at = None
    await session.flush()
    return receipt
