"""Shapes of the synchronised data the read API serves to portal frontends."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from gateway.money import Money

StatementKind = Literal["coparticipation", "reimbursement", "utilisation"]


class Plan(msgspec.Struct, kw_only=True):
    id: str
    name: str | None = None
    ans_registration: str | None = None
    coverage: str | None = None
    accommodation: str | None = None


class GracePeriod(msgspec.Struct, kw_only=True):
    """A carência: coverage the beneficiary cannot use before ``ends_on``."""

    id: str
    coverage: str | None = None
    ends_on: str | None = None


class FamilyMember(msgspec.Struct, kw_only=True):
    id: str
    name: str | None = None
    relationship: str | None = None


class Address(msgspec.Struct, kw_only=True):
    id: str
    street: str | None = None
    number: str | None = None
    complement: str | None = None
    district: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    kind: str | None = None


class Beneficiary(msgspec.Struct, kw_only=True):
    id: str
    updated_at: datetime | None = None
    name: str | None = None
    cpf: str | None = None
    birth_date: str | None = None
    card_number: str | None = None
    family_id: str | None = None
    holder_id: str | None = None
    relationship: str | None = None
    contract_id: str | None = None
    plan_id: str | None = None
    email: str | None = None
    phone: str | None = None
    plan: Plan | None = None
    family: list[FamilyMember] = msgspec.field(default_factory=list)
    grace_periods: list[GracePeriod] = msgspec.field(default_factory=list)
    addresses: list[Address] = msgspec.field(default_factory=list)


class BeneficiaryPage(msgspec.Struct):
    items: list[Beneficiary]
    next_cursor: str | None


class Specialty(msgspec.Struct, kw_only=True):
    code: str
    name: str | None = None


class Provider(msgspec.Struct, kw_only=True):
    id: str
    updated_at: datetime | None = None
    name: str | None = None
    person_kind: str | None = None
    document: str | None = None
    provider_type_code: str | None = None
    accreditation_status: str | None = None
    phone: str | None = None
    email: str | None = None
    specialties: list[Specialty] = msgspec.field(default_factory=list)
    addresses: list[Address] = msgspec.field(default_factory=list)


class ProviderPage(msgspec.Struct):
    items: list[Provider]
    next_cursor: str | None


class Statement(msgspec.Struct, kw_only=True):
    id: str
    kind: StatementKind
    updated_at: datetime | None = None
    family_id: str | None = None
    beneficiary_id: str | None = None
    competence: str | None = None
    event_code: str | None = None
    provider_id: str | None = None
    amount: Money | None = None
    status: str | None = None


class StatementPage(msgspec.Struct):
    items: list[Statement]
    next_cursor: str | None


class SyncedEntityRecord(msgspec.Struct, kw_only=True):
    """Any synchronised record, as the core system sent it (minus id and updated_at)."""

    id: str
    entity: str
    updated_at: datetime | None
    removed_at: datetime | None
    data: dict[str, Any]


class SyncedEntityRecordPage(msgspec.Struct):
    items: list[SyncedEntityRecord]
    next_cursor: str | None
