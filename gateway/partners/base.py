"""What every HTTP partner client shares: its httpx pool and how it is closed."""

from __future__ import annotations

from typing import Any, Self

import httpx


class PartnerClient:
    """An async context manager over an httpx client. A client handed in (a shared pool)
    belongs to the caller, who closes it; one made here from ``options`` is closed here."""

    def __init__(self, http: httpx.AsyncClient | None = None, **options: Any) -> None:
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(**options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
