"""What every HTTP partner client shares: its httpx pool and how it is closed."""

from __future__ import annotations

from typing import Any, Self

import httpx

from gateway.egress import EgressPolicy


class PartnerClient:
    """An async context manager over a guarded httpx client (gateway/egress.py).

    A client handed in (a shared pool, such as ``runtime.http``) belongs to the caller, who
    closes it; otherwise one is made here from ``egress`` and ``options`` and closed here.
    """

    def __init__(
        self, http: httpx.AsyncClient | None = None, *, egress: EgressPolicy | None = None, **options: Any
    ) -> None:
        if http is None:
            if egress is None:
                raise TypeError("a partner client needs a shared guarded client (http=) or an egress policy")
            http = egress.client(**options)
            self._owns_http = True
        else:
            self._owns_http = False
        self._http = http

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
