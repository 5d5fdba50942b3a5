from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="lowercase letters, digits, -")]

# The locales the console formats dates and money in: a fixed list, each one known to Babel.
LocaleName = Literal["pt_BR", "pt_PT", "en", "en_US", "en_GB", "es_ES", "pl_PL", "de_DE", "fr_FR", "it_IT"]
TENANT_LOCALES: tuple[str, ...] = get_args(LocaleName)
DEFAULT_LOCALE: LocaleName = "pt_BR"
DEFAULT_TIMEZONE = "America/Sao_Paulo"

TenantLocale = Annotated[
    LocaleName,
    msgspec.Meta(description="How the tenant's people write dates and money (pt_BR: R$ 1.234,56; pl_PL: 1 234,56 zł)"),
]
TimeZone = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
        description="An IANA time zone from the tz database, e.g. America/Sao_Paulo or Europe/Warsaw; "
        "another name is a 422",
    ),
]


class Tenant(msgspec.Struct):
    id: uuid.UUID
    name: str
    slug: str
    locale: str
    timezone: str
    created_at: datetime


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    slug: Slug
    locale: TenantLocale = DEFAULT_LOCALE
    timezone: TimeZone = DEFAULT_TIMEZONE


class TenantUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    locale: TenantLocale | None = None
    timezone: TimeZone | None = None


class TenantPage(msgspec.Struct):
    items: list[Tenant]
    next_cursor: str | None


class ApiKey(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyPage(msgspec.Struct):
    items: list[ApiKey]
    next_cursor: str | None


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "default"


class ApiKeyCreated(msgspec.Struct):
    """The only time the key itself is shown: it is stored hashed."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str
    key: str
    created_at: datetime
