"""Insurer web services: SOAP for the Portuguese insurers, REST for the Polish sources.

    /insurers/soap/{insurer}            SOAP 1.1 + WSDL (``?wsdl``), WS-Security UsernameToken
    /insurers/rest/{source}/...         JSON over HTTP Basic, windows of at most 16 days
    /insurers/_config                   GET / PUT / DELETE run-time knobs (size, today, password)
    /insurers/_push                     make a real-time insurer post signed change events

Any username is an account (each has its own deterministic portfolio); the password is the
configured one (``sandbox`` by default). A policy record, in JSON (SOAP uses the camelCase
names of the WSDL, with ``receipt`` elements)::

    {"policy_number": "ALL-497-0000005" | null, "insurer": "allianz", "product": "Saúde",
     "status": "active" | "cancelled", "holder_name": "Rita Rodrigues",
     "holder_tax_id": "267725817", "holder_tax_id_type": "NIF" | "PESEL" | "NIP",
     "start_date": "2024-10-23", "end_date": "2025-10-22", "premium_cents": 72287,
     "currency": "EUR" | "PLN", "updated_on": "2025-07-23", "as_of": "2025-07-31T23:59:59Z",
     "receipts": [{"receipt_number", "due_date", "amount_cents", "status", "status_changed_on"}]}

Receipt status is pending, paid, returned or cancelled. About 1 in 500 records is bad (no
policy number, or a ``start_date`` like ``2024-02-30``). See ``service`` for the snapshot
semantics and ``portfolio`` for how records change over time.
"""

from __future__ import annotations

from litestar import Router

from sandbox.insurers.config import config_router
from sandbox.insurers.push import push
from sandbox.insurers.rest import rest_router
from sandbox.insurers.soap import soap_router

router = Router(path="/insurers", route_handlers=[config_router, soap_router, rest_router, push])

__all__ = ["router"]
