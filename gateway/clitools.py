"""What every ``ponte`` command shares: one-line errors, the database, and Ponte's own REST API.

Commands that manage the platform (tenants, keys) talk to the database like ``ponte migrate``;
commands a tenant would run (tasks, imports, webhooks) talk to a running gateway over REST
with a tenant key, exactly like any third-party system. Both find a ``ponte dev`` through
``.ponte/env`` (gateway/devenv.py). Errors are one line on stderr and exit code 1: a problem
from the API, a service error, or a server that is not there; never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import httpx

from gateway.errors import PonteError
from gateway.settings import get_settings

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
NOT_RUNNING = "is `ponte dev` running? (or set DATABASE_URL / PONTE_URL)"


def problem_line(status: int | None, problem: dict[str, Any]) -> str:
    fields = "; ".join(f"{e.get('pointer')}: {e.get('detail')}" for e in problem.get("errors") or [])
    head = f"{status} " if status else ""
    text = problem.get("detail") or problem.get("title") or "error"
    return f"{head}{text}{' (' + fields + ')' if fields else ''}"


class PonteGroup(click.Group):
    """The top-level group: known failures become one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PonteError as exc:
            raise click.ClickException(problem_line(None, {"detail": exc.detail, "errors": _errors(exc)})) from None
        except httpx.TransportError as exc:
            url = exc.request.url if _has_request(exc) else os.environ.get("PONTE_URL", DEFAULT_URL)
            raise click.ClickException(f"cannot reach Ponte at {url}: {NOT_RUNNING}") from None
        except ConnectionError as exc:
            raise click.ClickException(f"cannot reach the database or queue ({exc}): {NOT_RUNNING}") from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {NOT_RUNNING}") from None


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises when the error has no request
    except RuntimeError:
        return False
    return True


def _errors(exc: PonteError) -> list[dict[str, str]]:
    return [{"pointer": e.pointer, "detail": e.detail} for e in exc.errors or []]


def database_url() -> str:
    url = get_settings().database_url
    if not url:
        raise click.ClickException(f"DATABASE_URL is not set: {NOT_RUNNING}")
    return url


def run_with_session(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(session)`` in one unit of work against DATABASE_URL."""
    from sqlalchemy.exc import DBAPIError, InterfaceError

    from gateway.db.session import Database

    async def run() -> T:
        db = Database(database_url(), pool_size=2)
        try:
            async with db.unit_of_work() as session:
                return await fn(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except (DBAPIError, InterfaceError) as exc:
        if getattr(exc, "connection_invalidated", False) or isinstance(exc.orig, OSError):
            raise click.ClickException(f"cannot reach the database: {NOT_RUNNING}") from None
        raise


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


class Api:
    """Ponte's REST API as a tenant's script sees it: problems become one-line errors."""

    # Tests serve the calls from the app in process; None means real HTTP.
    transport: httpx.BaseTransport | None = None

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30, transport=self.transport
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.is_error:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text.strip()[:200]}
            raise click.ClickException(problem_line(response.status_code, problem))
        if response.status_code == 204 or not response.content:
            return None
        if "json" not in response.headers.get("content-type", ""):
            return response.text
        return response.json()

    def close(self) -> None:
        self.http.close()


def api_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--url`` and ``--key``, from PONTE_URL and PONTE_KEY (``.ponte/env`` sets both)."""
    fn = click.option(
        "--key",
        envvar=["PONTE_KEY", "PONTE_API_KEY"],
        required=True,
        help="Tenant API key (env PONTE_KEY; `ponte dev` writes the demo key to .ponte/env)",
    )(fn)
    return click.option(
        "--url", envvar="PONTE_URL", default=DEFAULT_URL, show_default=True, help="Gateway URL (env PONTE_URL)"
    )(fn)


def open_api(ctx: click.Context, url: str, key: str) -> Api:
    api = Api(url, key)
    ctx.call_on_close(api.close)
    return api


def exit_code(ok: bool) -> None:
    if not ok:
        sys.exit(1)
