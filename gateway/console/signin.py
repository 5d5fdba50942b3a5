"""Sign-in with a tenant key or the operator key, sign-out, the operator's tenant picker and
the language switch."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.i18n import LANGUAGE_COOKIE, LANGUAGES
from gateway.console.pages import Ui, render, see_other
from gateway.console.session import ConsoleUser, operator_fingerprint, require_operator, start_new_session
from gateway.pagination import PageParams
from gateway.tenants import service as tenants
from gateway.tenants.auth import resolve_key

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class SignInForm(msgspec.Struct):
    key: str = ""


class LanguageForm(msgspec.Struct):
    language: str = ""
    next: str = "/console/"


def _start_session(request: Request[Any, Any, Any], user: ConsoleUser) -> None:
    start_new_session(request, {"user": msgspec.to_builtins(user)})


def _safe_next(path: str) -> str:
    # Only back into the console: an open redirect would make the switch a phishing aid.
    return path if path.startswith("/console") and not path.startswith("//") else "/console/"


class SignInController(Controller):
    path = "/console"

    @get("/sign-in", name="console:sign-in")
    async def form(self, ui: Ui) -> Template:
        return render(ui, "sign_in.html", error=None)

    @post("/sign-in", status_code=303)
    async def sign_in(
        self, request: Request[Any, Any, Any], ui: Ui, session: AsyncSession,
        data: Annotated[SignInForm, Form],
    ) -> Response[Any]:  # fmt: skip
        key = data.key.strip()
        principal = await resolve_key(request.app.state, key) if key else None
        if principal is None:
            return render(ui, "sign_in.html", status_code=401, error=ui.gettext("This key is unknown or revoked."))
        if principal.operator:
            fingerprint = operator_fingerprint(request.app.state.settings)
            _start_session(request, ConsoleUser(operator=True, key_fingerprint=fingerprint))
            return see_other("/console/tenants")
        assert principal.tenant_id is not None
        tenant = await tenants.get_tenant(session, principal.tenant_id)
        _start_session(
            request,
            ConsoleUser(
                operator=False, key_id=str(principal.key_id), tenant_id=str(tenant.id), tenant_name=tenant.name
            ),
        )
        return see_other("/console/")

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return see_other("/console/sign-in")

    @post("/language", status_code=303)
    async def language(self, data: Annotated[LanguageForm, Form]) -> Redirect:
        response = see_other(_safe_next(data.next))
        if data.language in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, data.language, path="/console", max_age=365 * 86400, samesite="strict", httponly=True
            )
        return response

    @get("/tenants", guards=[require_operator])
    async def tenants(self, ui: Ui, session: AsyncSession, cursor: str | None = None) -> Template:
        rows, next_cursor = await tenants.list_tenants(session, PageParams(limit=50, cursor=cursor))
        return render(ui, "tenants.html", tenants=rows, next_cursor=next_cursor)

    @post("/tenants/{picked:uuid}", guards=[require_operator], status_code=303)
    async def pick_tenant(self, request: Request[Any, Any, Any], session: AsyncSession, picked: uuid.UUID) -> Redirect:
        tenant = await tenants.get_tenant(session, picked)
        data = dict(request.session)
        data["user"] = msgspec.to_builtins(
            ConsoleUser(
                operator=True,
                tenant_id=str(tenant.id),
                tenant_name=tenant.name,
                key_fingerprint=operator_fingerprint(request.app.state.settings),
            )
        )
        request.set_session(data)
        return see_other("/console/")
