from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="lowercase letters, digits, -")]


class Tenant(msgspec.Struct):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    slug: Slug


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
