"""Read side over ``portal_records``: what portal frontends show (beneficiaries, providers,
statements) and a generic listing of any synchronised entity.

Related records are looked up by a JSON field (``family_id``, ``beneficiary_id``,
``provider_id``); each lookup carries the ``data ? 'field'`` predicate so it uses the partial
expression index for that field.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import NotFound
from gateway.pagination import PageParams, paginate
from gateway.portal.models import SyncedRecord

STATEMENT_ENTITIES = {
    "coparticipation": "coparticipation_statement",
    "reimbursement": "reimbursement_statement",
    "utilisation": "utilisation_statement",
}
LINK_FIELDS = ("family_id", "beneficiary_id", "provider_id")


def live(tenant_id: uuid.UUID, entity: str, *, include_removed: bool = False) -> Select[SyncedRecord]:
    stmt = select(SyncedRecord).where(SyncedRecord.tenant_id == tenant_id, SyncedRecord.entity == entity)
    return stmt if include_removed else stmt.where(SyncedRecord.removed_at.is_(None))


def where_fields(stmt: Select[SyncedRecord], filters: dict[str, str | None]) -> Select[SyncedRecord]:
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(SyncedRecord.data.has_key(name), SyncedRecord.data[name].astext == value)
    return stmt


async def page_of(
    session: AsyncSession, stmt: Select[SyncedRecord], page: PageParams
) -> tuple[list[SyncedRecord], str | None]:
    return await paginate(session, stmt, page, order_by=[SyncedRecord.external_id], descending=False)


async def linked(
    session: AsyncSession, tenant_id: uuid.UUID, entity: str, field: str, values: Iterable[str]
) -> dict[str, list[SyncedRecord]]:
    """Live records of ``entity`` whose ``field`` is one of ``values``, grouped by that value."""
    wanted = sorted(set(values))
    grouped: dict[str, list[SyncedRecord]] = {v: [] for v in wanted}
    if not wanted:
        return grouped
    stmt = live(tenant_id, entity).where(SyncedRecord.data.has_key(field), SyncedRecord.data[field].astext.in_(wanted))
    for row in (await session.scalars(stmt.order_by(SyncedRecord.external_id))).all():
        grouped[row.data[field]].append(row)
    return grouped


async def by_ids(
    session: AsyncSession, tenant_id: uuid.UUID, entity: str, ids: Iterable[str]
) -> dict[str, SyncedRecord]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = live(tenant_id, entity).where(SyncedRecord.external_id.in_(wanted))
    return {r.external_id: r for r in (await session.scalars(stmt)).all()}


async def get(session: AsyncSession, tenant_id: uuid.UUID, entity: str, external_id: str) -> SyncedRecord:
    row = await session.get(SyncedRecord, (tenant_id, entity, external_id))
    if row is None or row.removed_at is not None:
        raise NotFound(f"No {entity} {external_id} has been synchronised.")
    return row


async def by_code(session: AsyncSession, tenant_id: uuid.UUID, entity: str) -> dict[str, dict[str, Any]]:
    """A small parameter table (specialties, plans...) keyed by its code or id."""
    rows = (await session.scalars(live(tenant_id, entity))).all()
    return {str(r.data.get("code") or r.external_id): {"id": r.external_id, **r.data} for r in rows}
