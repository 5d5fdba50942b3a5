"""The ceiling of the HTTP benchmarks: a bare Litestar hello-world, served exactly as the gateway is.

Same framework, same server and options (``gateway.server``), same answer as Ponte's
``GET /ping``, and nothing else: no middleware, no database. A ratio to it says how much of
what the framework can do on this machine Ponte keeps.
"""

from __future__ import annotations

from litestar import Litestar, get


@get("/ping")
async def ping() -> dict[str, str]:
    return {"pong": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[ping])
