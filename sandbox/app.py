"""The partner sandbox: every outside party Ponte talks to, as one real HTTP server.

Each partner lives in its own module and exports a ``router`` mounted under its prefix:

    /insurers   insurer web services (SOAP for the Portuguese, REST for the Polish sources)
    /core       the health plan's core system
    /portal     the client document portal
    /boavista   the card-reconciliation integrator
    /receiver   a tenant's own system, receiving Ponte's outbound events

The sandbox is an outside party: it shares no code with ``gateway`` or ``workers``.
Data is generated deterministically from seeds, so tests and benchmarks can predict it.
"""

from __future__ import annotations

import importlib

from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware

from sandbox.faults import FaultSettings, fault_injection, faults_router

# Partner modules; each exports ``router``. A module that does not exist yet is skipped so
# the skeleton runs while partners are being filled in.
PARTNER_MODULES = (
    "sandbox.insurers",
    "sandbox.core_system",
    "sandbox.portal",
    "sandbox.boavista",
    "sandbox.receiver",
)


@get("/", sync_to_thread=False)
def index() -> dict[str, list[str]]:
    return {"partners": [m.rsplit(".", 1)[1] for m in PARTNER_MODULES]}


def partner_routers() -> list[Router]:
    routers: list[Router] = []
    for name in PARTNER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        routers.append(module.router)
    return routers


def create_sandbox_app() -> Litestar:
    faults = FaultSettings()
    return Litestar(
        route_handlers=[index, faults_router, *partner_routers()],
        middleware=[DefineMiddleware(fault_injection, settings=faults)],
        state=State({"faults": faults}),
        request_max_body_size=200_000_000,
        openapi_config=None,
    )
