"""Test data built through the public API, the way a client would."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import msgspec

_counter = itertools.count(1)


class TenantKey(msgspec.Struct):
    tenant_id: uuid.UUID
    slug: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class TenantFactory:
    def __init__(self, client: Any, operator_headers: dict[str, str]) -> None:
        self.client = client
        self.operator_headers = operator_headers

    async def create(self, slug: str | None = None) -> TenantKey:
        slug = slug or f"tenant-{next(_counter)}"
        r = await self.client.post(
            "/v1/tenants", json={"name": slug.title(), "slug": slug}, headers=self.operator_headers
        )
        assert r.status_code == 201, r.text
        tenant_id = r.json()["id"]
        r = await self.client.post(
            f"/v1/tenants/{tenant_id}/keys", json={"name": "test"}, headers=self.operator_headers
        )
        assert r.status_code == 201, r.text
        return TenantKey(tenant_id=uuid.UUID(tenant_id), slug=slug, key=r.json()["key"])
