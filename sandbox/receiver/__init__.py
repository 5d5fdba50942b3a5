"""A tenant's own system receiving Ponte's outbound events, mounted at ``/receiver``.

It is what a tenant would write with nothing but the reference ``standardwebhooks`` library:
each request is verified against the secrets the receiver was given (any one may match, so a
secret rotation is seen from the receiver's side), recorded, then answered, unless a fault
says otherwise. Each receiver is a name; configure it before sending to it.

    POST /{name}                       a delivery: 401 bad signature, 2xx recorded, or a fault
    PUT  /_receivers/{name}            {"secrets": [...], "error_rate", "timeout_rate",
                                        "timeout_s", "latency_ms", "gone", "down", "seed"}
    GET  /_receivers/{name}            the configuration and counts
    GET  /_receivers/{name}/received   {"items": [{"webhook_id", "type", "status", "signature", ...}]}
    GET  /_receivers/{name}/accepted   {"ids": [...]} webhook-ids answered 2xx, in arrival order
    DELETE /_receivers/{name}          forget it
"""

from __future__ import annotations

from litestar import Router

from sandbox.receiver.routes import handlers

router = Router(path="/receiver", route_handlers=handlers)
