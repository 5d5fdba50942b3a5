"""Read API for portal frontends over the synchronised core-system data."""

from __future__ import annotations

import uuid

from litestar import Controller, get
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import NotFound
from gateway.pagination import PageParams
from gateway.portal import record_schemas as rs
from gateway.portal import record_views, records
from gateway.portal.catalogue import SYNCS
from gateway.portal.models import SyncedRecord

IMPORTED_ENTITIES = frozenset(s.entity for s in SYNCS.values() if s.direction == "import")


class PortalDataController(Controller):
    path = "/v1/portal"
    tags = ["Portal data"]

    @get(
        "/beneficiaries",
        operation_id="ListPortalBeneficiaries",
        summary="Beneficiaries with family, plan and carências",
    )
    async def list_beneficiaries(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        family_id: str | None = None,
        holder_id: str | None = None,
        plan_id: str | None = None,
        contract_id: str | None = None,
        cpf: str | None = None,
    ) -> rs.BeneficiaryPage:
        filters = {"family_id": family_id, "holder_id": holder_id, "plan_id": plan_id, "contract_id": contract_id,
                   "cpf": cpf}  # fmt: skip
        stmt = records.where_fields(records.live(tenant_id, "beneficiary"), filters)
        rows, next_cursor = await records.page_of(session, stmt, page)
        return rs.BeneficiaryPage(await record_views.beneficiaries(session, tenant_id, rows), next_cursor)

    @get("/beneficiaries/{beneficiary_id:str}", operation_id="GetPortalBeneficiary", summary="One beneficiary")
    async def get_beneficiary(self, session: AsyncSession, tenant_id: uuid.UUID, beneficiary_id: str) -> rs.Beneficiary:
        row = await records.get(session, tenant_id, "beneficiary", beneficiary_id)
        return (await record_views.beneficiaries(session, tenant_id, [row]))[0]

    @get("/providers", operation_id="ListPortalProviders", summary="Providers with addresses and specialties")
    async def list_providers(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        specialty: str | None = None,
        provider_type_code: str | None = None,
        document: str | None = None,
    ) -> rs.ProviderPage:
        stmt = records.where_fields(
            records.live(tenant_id, "provider"), {"provider_type_code": provider_type_code, "document": document}
        )
        if specialty:
            stmt = stmt.where(SyncedRecord.data["specialty_codes"].contains([specialty]))
        rows, next_cursor = await records.page_of(session, stmt, page)
        return rs.ProviderPage(await record_views.providers(session, tenant_id, rows), next_cursor)

    @get("/providers/{provider_id:str}", operation_id="GetPortalProvider", summary="One provider")
    async def get_provider(self, session: AsyncSession, tenant_id: uuid.UUID, provider_id: str) -> rs.Provider:
        row = await records.get(session, tenant_id, "provider", provider_id)
        return (await record_views.providers(session, tenant_id, [row]))[0]

    @get("/statements", operation_id="ListPortalStatements", summary="Coparticipation, reimbursement or utilisation")
    async def list_statements(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        page: PageParams,
        kind: rs.StatementKind,
        family_id: str | None = None,
        beneficiary_id: str | None = None,
        competence: str | None = None,
    ) -> rs.StatementPage:
        filters = {"family_id": family_id, "beneficiary_id": beneficiary_id, "competence": competence}
        stmt = records.where_fields(records.live(tenant_id, records.STATEMENT_ENTITIES[kind]), filters)
        rows, next_cursor = await records.page_of(session, stmt, page)
        return rs.StatementPage(record_views.statements(kind, rows), next_cursor)

    @get("/records/{entity:str}", operation_id="ListPortalRecords", summary="Any synchronised entity, raw")
    async def list_records(
        self, session: AsyncSession, tenant_id: uuid.UUID, page: PageParams, entity: str, include_removed: bool = False
    ) -> rs.SyncedEntityRecordPage:
        """``entity`` is a catalogue entity (``GET /v1/portal/syncs`` shows each sync's)."""
        if entity not in IMPORTED_ENTITIES:
            raise NotFound(f"No synchronised entity {entity!r}.")
        stmt = records.live(tenant_id, entity, include_removed=include_removed)
        rows, next_cursor = await records.page_of(session, stmt, page)
        return rs.SyncedEntityRecordPage(record_views.generic(rows), next_cursor)
