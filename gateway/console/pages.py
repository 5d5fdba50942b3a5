"""What every console page shares: the person's language, the tenant's formats, rendering,
and errors shown as pages (or, for an HTMX action, as a message in the page's flash area)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.i18n import LABELS, LANGUAGE_COOKIE, LANGUAGES, N_, Formats, negotiate, translations
from gateway.console.session import ConsoleUser, SignInRequired, TenantRequired, current_user
from gateway.errors import NotFound, PonteError
from gateway.tenants import service as tenants

Req = Request[Any, Any, Any]

# The screens in the navigation: (address, label). A screen is listed once it exists.
SCREENS: list[tuple[str, str]] = [
    ("/console/", N_("Overview")),
    ("/console/imports", N_("Insurer imports")),
    ("/console/portal", N_("Portal syncs")),
    ("/console/documents", N_("Documents")),
    ("/console/reconciliation", N_("Reconciliation")),
    ("/console/webhooks", N_("Webhooks")),
    ("/console/tasks", N_("Tasks")),
]


class Ui:
    """The language a person reads in and the tenant's formats, for one request."""

    def __init__(self, request: Req) -> None:
        self.language = negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
        self.translations = translations(self.language)
        self.user = current_user(request)
        # Until provide_ui reads the tenant (sign-in, error pages): pt_BR in São Paulo.
        self.formats = Formats()
        self.htmx = request.headers.get("hx-request") == "true"

    def gettext(self, message: str, **values: Any) -> str:
        text = self.translations.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self.translations.ngettext(singular, plural, n).format(n=n, **values)


async def provide_ui(request: Req, session: AsyncSession) -> Ui:
    """The tenant's formats are read on every page (one primary-key read), so a change made
    through the API shows at the next click."""
    ui = Ui(request)
    if ui.user is not None and ui.user.tenant_uuid is not None:
        tenant = await tenants.get_tenant(session, ui.user.tenant_uuid)
        ui.formats = Formats(locale=tenant.locale, timezone=tenant.timezone)
    return ui


def provide_user(request: Req) -> ConsoleUser:
    user = current_user(request)
    if user is None:
        raise SignInRequired()
    return user


def provide_console_tenant(request: Req) -> uuid.UUID:
    """The tenant every console page is scoped to: the session's, never one from the URL."""
    user = current_user(request)
    if user is None or user.tenant_uuid is None:
        raise SignInRequired()
    return user.tenant_uuid


def render(ui: Ui, template: str, *, status_code: int = 200, **context: Any) -> Template:
    return Template(
        template_name=template,
        context={
            "_": ui.gettext,
            "ngettext": ui.ngettext,
            "fmt": ui.formats,
            "ui": ui,
            "user": ui.user,
            "languages": LANGUAGES,
            "labels": LABELS,
            "screens": SCREENS,
            "query": urlencode,
            **context,
        },
        status_code=status_code,
    )


async def form_values(request: Req, name: str) -> list[str]:
    """Every value of a repeated form field (checkboxes), which a Struct body keeps only once."""
    form = await request.form()
    return [str(v) for v in form.getall(name)] if name in form else []


def see_other(path: str) -> Redirect:
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


def _sign_in(request: Req, _: Exception) -> Response[Any]:
    if request.headers.get("hx-request") == "true":
        # HTMX would swap a redirect's target into the fragment; send the whole page there.
        return Response(content=b"", status_code=200, headers={"HX-Redirect": "/console/sign-in"})
    return see_other("/console/sign-in")


def _pick_tenant(request: Req, _: Exception) -> Response[Any]:
    return see_other("/console/tenants")


def _problem(request: Req, exc: PonteError | HTTPException) -> Response[Any]:
    ui = Ui(request)
    status = exc.status if isinstance(exc, PonteError) else exc.status_code
    detail = exc.detail if isinstance(exc, PonteError) else ui.gettext("This page does not exist.")
    hint = None
    if isinstance(exc, NotFound | NotFoundException):
        hint = ui.gettext("Not found: it does not exist, or it belongs to another tenant.")
    if ui.htmx:
        # A refused action keeps the page and says why in its flash area; a 4xx would not be
        # swapped by HTMX and would be logged by the browser as a failed resource.
        response = render(ui, "_flash.html", level="error", message=detail)
        response.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return response
    return render(ui, "error.html", status_code=status, status=status, detail=detail, hint=hint)


exception_handlers: dict[type[Exception] | int, Any] = {
    SignInRequired: _sign_in,
    TenantRequired: _pick_tenant,
    PonteError: _problem,
    NotFoundException: _problem,
}
