"""The client document portal (an ONVIO-like "Portal do Cliente"), mounted at ``/portal``.

Firm API (bearer ``ptk_<firm>``), all JSON except file bodies, errors ``{"code", "detail", "file"?}``;
``X-Portal-Employee`` names the firm's employee acting, whose folder permissions then apply:

    GET  /firm                                                 {"firm"}: the token works
    GET  /clients/{client}                                     client, 404 client_not_found
    GET  /clients/{client}/folders                             {"items": [folder]} whole tree
    POST /clients/{client}/folders {"name","parent_id"}        201 new / 200 already there
    GET  /clients/{client}/folders/{folder}/files[?name=N]     {"items": [file]}; N and "N (k).ext"
    POST /clients/{client}/folders/{folder}/files?name=N       raw body; 201, 409 exists
    PUT  /clients/{client}/folders/{folder}/files/{file}       raw body; 200, 409 locked
    GET  /clients/{client}/folders/{folder}/files/{file}/content
    POST /clients/{client}/folders/{folder}/files/{file}/view  the client opened it: locked

403 permission_denied for a locked client, a client's restricted department, ``Restrito/``, and
a folder the acting employee has no grant on.
Admin (no token): ``PUT /_clients/{client}``, ``PUT /_grants/{firm}/{client}/{employee}``,
``GET /_files``, ``DELETE /_reset``, ``PUT|GET /_content/{doc}``.
"""

from __future__ import annotations

from litestar import Request, Response, Router
from litestar.datastructures import State

from sandbox.portal.admin import admin_handlers
from sandbox.portal.routes import firm_handlers
from sandbox.portal.schemas import PortalProblem, file_out
from sandbox.portal.store import PortalError


def portal_problem(_: Request[object, object, State], exc: PortalError) -> Response[PortalProblem]:
    problem = PortalProblem(exc.code, exc.detail, file_out(exc.file) if exc.file else None)
    return Response(problem, status_code=exc.status)


router = Router(
    path="/portal",
    route_handlers=[*firm_handlers, *admin_handlers],
    exception_handlers={PortalError: portal_problem},
)
