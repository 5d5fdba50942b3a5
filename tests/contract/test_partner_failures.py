"""A partner failing during a synchronous call is a 503 or 502 problem, never a 500."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from gateway.errors import exception_handlers
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from tests.test_errors import assert_problem

FAILURES: dict[str, Exception] = {
    "transient": TransientPartnerError("core system answered 503"),
    "unreachable": httpx.ConnectError("connection refused"),
    "timeout": httpx.ReadTimeout("timed out"),
    "rejected": PermanentPartnerError("portal answered 418", code="partner_rejected"),
    "bad-url": httpx.InvalidURL("bad host"),
}


@get("/call/{name:str}", sync_to_thread=False)
def call_partner(name: str) -> None:
    raise FAILURES[name]


@pytest.mark.parametrize(
    ("name", "status"),
    [("transient", 503), ("unreachable", 503), ("timeout", 503), ("rejected", 502), ("bad-url", 502)],
)
async def test_an_unhandled_partner_failure_is_a_problem(name: str, status: int) -> None:
    app = Litestar([call_partner], exception_handlers=exception_handlers)
    async with AsyncTestClient(app) as client:
        body = assert_problem(await client.get(f"/call/{name}"), status)
    assert "partner" in body["detail"]
