"""Assemble read-API items from synchronised records, a page at a time (one query per relation)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.portal import record_schemas as rs
from gateway.portal import records
from gateway.portal.models import SyncedRecord

S = TypeVar("S", bound=msgspec.Struct)


def shape(row: SyncedRecord, struct: type[S], **extra: Any) -> S:
    return msgspec.convert({**row.data, "id": row.external_id, "updated_at": row.updated_at_source, **extra}, struct,
                           strict=False)  # fmt: skip


async def beneficiaries(session: AsyncSession, tenant_id: uuid.UUID, rows: list[SyncedRecord]) -> list[rs.Beneficiary]:
    ids = [r.external_id for r in rows]
    families = await records.linked(session, tenant_id, "beneficiary", "family_id",
                                    (r.data["family_id"] for r in rows if r.data.get("family_id")))  # fmt: skip
    plans = await records.by_ids(session, tenant_id, "plan", (r.data["plan_id"] for r in rows if r.data.get("plan_id")))
    grace = await records.linked(session, tenant_id, "grace_period", "beneficiary_id", ids)
    addresses = await records.linked(session, tenant_id, "beneficiary_address", "beneficiary_id", ids)
    items = []
    for row in rows:
        plan = plans.get(row.data.get("plan_id") or "")
        items.append(
            msgspec.structs.replace(
                shape(row, rs.Beneficiary),
                plan=shape(plan, rs.Plan) if plan else None,
                family=[shape(m, rs.FamilyMember) for m in families.get(row.data.get("family_id") or "", [])],
                grace_periods=[shape(g, rs.GracePeriod) for g in grace.get(row.external_id, [])],
                addresses=[shape(a, rs.Address) for a in addresses.get(row.external_id, [])],
            )
        )
    return items


async def providers(session: AsyncSession, tenant_id: uuid.UUID, rows: list[SyncedRecord]) -> list[rs.Provider]:
    specialties = await records.by_code(session, tenant_id, "specialty")
    addresses = await records.linked(session, tenant_id, "provider_address", "provider_id",
                                     [r.external_id for r in rows])  # fmt: skip
    return [
        msgspec.structs.replace(
            shape(row, rs.Provider),
            specialties=[
                rs.Specialty(code=code, name=specialties.get(code, {}).get("name"))
                for code in row.data.get("specialty_codes") or []
            ],
            addresses=[shape(a, rs.Address) for a in addresses.get(row.external_id, [])],
        )
        for row in rows
    ]


def _money(raw: Any) -> dict[str, Any] | None:
    # The core system sends {"amount": minor units, "currency"}; the API has one Money shape.
    return {"amount_cents": raw.get("amount"), "currency": raw.get("currency")} if isinstance(raw, dict) else None


def statements(kind: str, rows: list[SyncedRecord]) -> list[rs.Statement]:
    return [shape(row, rs.Statement, kind=kind, amount=_money(row.data.get("amount"))) for row in rows]


def generic(rows: list[SyncedRecord]) -> list[rs.SyncedEntityRecord]:
    return [
        rs.SyncedEntityRecord(
            id=r.external_id, entity=r.entity, updated_at=r.updated_at_source, removed_at=r.removed_at, data=r.data
        )
        for r in rows
    ]
