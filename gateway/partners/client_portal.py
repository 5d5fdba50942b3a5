"""Client for the client document portal (ONVIO-like "Portal do Cliente"), over HTTP.

``base_url`` is the portal API root (the sandbox serves it at ``{sandbox}/portal``) and
``token`` the accounting firm's bearer token. Failures raise partner errors with stable codes:
``client_not_found``, ``permission_denied``, ``folder_not_found``, ``file_not_found``,
``locked`` and ``exists`` (as ``PortalConflictError``, carrying the file that holds the name),
``content_unavailable``; transient ones (5xx, 429, timeouts) raise ``TransientPartnerError``
with code ``portal_unavailable`` (``content_unavailable`` when fetching document content).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote, unquote, urlencode

import httpx
import msgspec

from gateway.egress import EgressPolicy, GuardedClient, Origin, max_bytes
from gateway.partners.base import PartnerClient
from gateway.partners.errors import TRANSIENT_STATUSES, PermanentPartnerError, TransientPartnerError

PARTNER = "client_portal"
# The firm's employee a delivery acts for: the portal applies that employee's folder
# permissions. Sessions are shared across deliveries (they cache folder ids), so the employee
# rides the delivery's context instead of the session.
_acting_employee: ContextVar[str | None] = ContextVar("portal_acting_employee", default=None)


@contextmanager
def acting_as(employee: str | None) -> Iterator[None]:
    """Portal calls made inside carry ``X-Portal-Employee: employee`` (None: the firm itself)."""
    token = _acting_employee.set(employee)
    try:
        yield
    finally:
        _acting_employee.reset(token)


# Bounds the 409 retries of one delivery; 50 racing deliveries of one name need about 50.
MAX_CONFLICTS = 200


class PortalClient(msgspec.Struct, frozen=True):
    id: str
    name: str
    restricted_departments: list[str]
    locked: bool


class PortalFolder(msgspec.Struct, frozen=True):
    id: str
    parent_id: str | None
    name: str
    path: list[str]


class PortalFile(msgspec.Struct, frozen=True):
    id: str
    folder_id: str
    name: str
    size: int
    content_type: str
    sha256: str
    viewed: bool
    version_count: int


class DeliveredFile(msgspec.Struct, frozen=True):
    name_used: str
    file_id: str
    replaced: bool  # an earlier, unviewed version was overwritten
    sha256: str
    already_delivered: bool = False  # the same bytes were already there (a retried delivery)


T = TypeVar("T")


class _Items(msgspec.Struct, Generic[T]):
    items: list[T]


class _Problem(msgspec.Struct):
    code: str | None = None
    detail: str | None = None
    file: PortalFile | None = None


class PortalConflictError(PermanentPartnerError):
    """409 from the portal: ``exists`` (name taken) or ``locked`` (viewed); ``file`` is the holder."""

    def __init__(self, detail: str, *, code: str, file: PortalFile | None) -> None:
        super().__init__(detail, code=code, status=409)
        self.file = file


_FALLBACK_CODES = {401: "unauthorized", 403: "permission_denied", 404: "not_found", 409: "exists"}


def _raise_for_portal(status: int, body: bytes, what: str) -> None:
    """``what``: the call, as ``GET /portal/clients/c1``."""
    if 200 <= status < 300:
        return
    detail = f"{PARTNER} answered {status} to {what}"
    if status in TRANSIENT_STATUSES:
        raise TransientPartnerError(detail, code="portal_unavailable", status=status)
    try:
        problem = msgspec.json.decode(body, type=_Problem)
    except msgspec.DecodeError:
        problem = _Problem()
    code = problem.code or _FALLBACK_CODES.get(status, "partner_rejected")
    detail = f"{detail}: {problem.detail}" if problem.detail else detail
    if status == 409:
        raise PortalConflictError(detail, code=code, file=problem.file)
    raise PermanentPartnerError(detail, code=code, status=status)


def _segment(value: str) -> str:
    """A name or id as one path segment: a client id holding ``/``, ``?`` or ``#`` cannot reach
    another path."""
    return quote(value, safe="")


def _folder(client_id: str, folder_id: str) -> str:
    return f"/clients/{_segment(client_id)}/folders/{_segment(folder_id)}"


def numbered(name: str, n: int) -> str:
    """The n-th copy name: ``DAS Janeiro.pdf`` -> ``DAS Janeiro (2).pdf``; n == 0 is the name itself."""
    if n == 0:
        return name
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    return f"{stem} ({n}){ext}"


class ClientPortalClient(PartnerClient):
    """One firm's session with the portal. Reuse it: it keeps a connection pool and a folder-id cache."""

    def __init__(
        self, base_url: str, token: str, *, http: httpx.AsyncClient | None = None, egress: EgressPolicy | None = None
    ) -> None:
        super().__init__(http, egress=egress, timeout=httpx.Timeout(10.0, connect=5.0))
        self._base = base_url.rstrip("/")
        self._base_path = httpx.URL(self._base).path.rstrip("/")  # for error details
        # On the egress pool, calls go out as bytes (``GuardedClient.send_bytes``); any other
        # client (a test's) gets ordinary httpx requests.
        self._origin = Origin.of(self._base) if isinstance(self._http, GuardedClient) else None
        # What ``AsyncClient.build_request`` would merge into every request, merged once: the
        # client's headers and timeouts. Its cookie jar is left out on purpose: the pool is shared
        # by every tenant's partners, and a cookie one of them set has no business in a portal call.
        self._auth = {**self._http.headers, "Authorization": f"Bearer {token}"}
        self._timeout = self._http.timeout.as_dict()
        self._folder_ids: dict[tuple[str, tuple[str, ...]], str] = {}
        # Built once per content type and employee (a firm has a few employees).
        self._headers: dict[tuple[str | None, str | None], list[tuple[bytes, bytes]]] = {}

    def _headers_for(self, content_type: str | None, employee: str | None) -> list[tuple[bytes, bytes]]:
        headers = {**self._auth, "Content-Type": content_type} if content_type else dict(self._auth)
        if employee is not None:
            headers["X-Portal-Employee"] = quote(employee, safe="")  # names are not ASCII-only
        if len(self._headers) >= 256:  # a bound all the same
            self._headers.clear()
        built = self._headers[(content_type, employee)] = httpx.Headers(headers).raw  # checked by httpx
        return built

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> bytes:
        """The body of the portal's 2xx answer to ``method`` on ``path`` (its ids quoted with
        ``_segment``); a partner error for any other answer."""
        if json is not None:
            content, content_type = msgspec.json.encode(json), "application/json"
        employee = _acting_employee.get()
        headers = self._headers.get((content_type, employee))
        if headers is None:
            headers = self._headers_for(content_type, employee)
        # The query httpx would build from params= (same encoding), written once.
        target = path + "?" + urlencode(params) if params else path
        try:
            if self._origin is not None:
                http = cast(GuardedClient, self._http)
                status, body = await http.send_bytes(
                    self._origin, method.encode(), target.encode(), headers, content, self._timeout
                )
            else:
                request = httpx.Request(
                    method, self._base + target, content=content, headers=headers, extensions={"timeout": self._timeout}
                )
                response = await self._http.send(request)
                status, body = response.status_code, response.content
        except httpx.TransportError as exc:
            raise TransientPartnerError(
                f"{PARTNER} unreachable: {type(exc).__name__}", code="portal_unavailable"
            ) from exc
        if not 200 <= status < 300:
            _raise_for_portal(status, body, f"{method} {self._base_path}{unquote(path)}")
        return body

    async def check(self) -> str:
        """The firm the token belongs to; ``unauthorized`` when the portal refuses the token."""
        return str(msgspec.json.decode(await self._call("GET", "/firm"), type=dict[str, str])["firm"])

    async def get_client(self, client_id: str) -> PortalClient:
        try:
            body = await self._call("GET", f"/clients/{_segment(client_id)}")
        except PermanentPartnerError as exc:
            if exc.status == 404:
                exc.code = "client_not_found"
            raise
        return msgspec.json.decode(body, type=PortalClient)

    async def list_folders(self, client_id: str) -> list[PortalFolder]:
        body = await self._call("GET", f"/clients/{_segment(client_id)}/folders")
        return msgspec.json.decode(body, type=_Items[PortalFolder]).items

    async def ensure_folder_path(self, client_id: str, path: Sequence[str]) -> str:
        """The id of the folder at ``path`` (e.g. ``["Fiscal", "DAS"]``), creating missing folders."""
        key = (client_id, tuple(path))
        cached = self._folder_ids.get(key)
        if cached is not None:
            return cached
        by_path = {tuple(f.path): f.id for f in await self.list_folders(client_id)}
        parent_id: str | None = None
        for depth in range(1, len(path) + 1):
            folder_id = by_path.get(tuple(path[:depth]))
            if folder_id is None:
                folder_id = await self.create_folder(client_id, path[depth - 1], parent_id)
            parent_id = folder_id
        if parent_id is None:
            raise ValueError("a destination folder path needs at least one folder")
        self._folder_ids[key] = parent_id
        return parent_id

    async def create_folder(self, client_id: str, name: str, parent_id: str | None) -> str:
        """The id of folder ``name`` under ``parent_id`` (None: the root), created if missing.

        Creating is idempotent in the portal, so a racing creator just gets the same folder."""
        body = {"name": name, "parent_id": parent_id}
        answer = await self._call("POST", f"/clients/{_segment(client_id)}/folders", json=body)
        return msgspec.json.decode(answer, type=PortalFolder).id

    async def list_files(self, client_id: str, folder_id: str, *, name: str | None = None) -> list[PortalFile]:
        """Files of a folder; with ``name``, only that name and its numbered copies."""
        params = {"name": name} if name is not None else None
        body = await self._call("GET", f"{_folder(client_id, folder_id)}/files", params=params)
        return msgspec.json.decode(body, type=_Items[PortalFile]).items

    async def create_file(
        self, client_id: str, folder_id: str, name: str, content: bytes, content_type: str = "application/octet-stream"
    ) -> PortalFile:
        """Upload a new file; ``PortalConflictError(code="exists")`` if the name is taken."""
        path = f"{_folder(client_id, folder_id)}/files"
        body = await self._call("POST", path, params={"name": name}, content=content, content_type=content_type)
        return msgspec.json.decode(body, type=PortalFile)

    async def replace_file(
        self,
        client_id: str,
        folder_id: str,
        file_id: str,
        content: bytes,
        content_type: str = "application/octet-stream",
    ) -> PortalFile:
        """Upload a new version; ``PortalConflictError(code="locked")`` once the client viewed the file."""
        path = f"{_folder(client_id, folder_id)}/files/{_segment(file_id)}"
        body = await self._call("PUT", path, content=content, content_type=content_type)
        return msgspec.json.decode(body, type=PortalFile)

    async def deliver_file(
        self,
        client_id: str,
        folder_path: Sequence[str],
        name: str,
        content: bytes,
        content_type: str = "application/octet-stream",
    ) -> DeliveredFile:
        """Deliver one document under the portal's naming rule, safe to retry and to run concurrently.

        Walks ``name``, ``Name (1).ext``, ``Name (2).ext``...: a free name is created; a name
        holding these very bytes means an earlier try already delivered them (nothing is
        written); an unviewed file is replaced; a viewed one is left alone and the walk moves
        on. A 409 from a racing delivery tells which file now holds the name, and the same
        rule is applied to it, so no file is lost and no two files share a name.
        """
        folder_id = await self.ensure_folder_path(client_id, folder_path)
        holders = await self._holders(client_id, folder_id, name)
        return await self._walk(client_id, folder_id, name, content, content_type, holders)

    async def _holders(self, client_id: str, folder_id: str, name: str) -> dict[str, PortalFile]:
        """What holds ``name`` and its numbered copies now, by name (one listing)."""
        listed = await self.list_files(client_id, folder_id, name=name)
        for file in listed:
            self._held(client_id, folder_id, file)
        return {f.name: f for f in listed}

    def _held(self, client_id: str, folder_id: str, file: PortalFile) -> None:
        """The portal showed ``file`` holding its name (listed, created, or named by a 409); a
        session that remembers names hooks in here."""

    async def _walk(
        self,
        client_id: str,
        folder_id: str,
        name: str,
        content: bytes,
        content_type: str,
        holders: dict[str, PortalFile],
    ) -> DeliveredFile:
        """The naming rule, from ``holders``: what is known to hold ``name`` and its copies."""
        sha = hashlib.sha256(content).hexdigest()
        n = 0
        for _ in range(MAX_CONFLICTS):
            candidate = numbered(name, n)
            holder = holders.get(candidate)
            while holder is not None and holder.sha256 != sha and holder.viewed:
                n += 1
                candidate = numbered(name, n)
                holder = holders.get(candidate)
            if holder is not None and holder.sha256 == sha:
                return DeliveredFile(candidate, holder.id, False, sha, already_delivered=True)
            try:
                if holder is None:
                    created = await self.create_file(client_id, folder_id, candidate, content, content_type)
                    self._held(client_id, folder_id, created)
                    return DeliveredFile(candidate, created.id, False, sha)
                replaced = await self.replace_file(client_id, folder_id, holder.id, content, content_type)
                self._held(client_id, folder_id, replaced)
                return DeliveredFile(candidate, replaced.id, True, sha)
            except PortalConflictError as conflict:
                if conflict.file is None:
                    raise
                holders[candidate] = conflict.file  # re-judge this name with what holds it now
                self._held(client_id, folder_id, conflict.file)
        raise TransientPartnerError(f"{name!r} kept colliding after {MAX_CONFLICTS} tries", code="name_contention")

    async def fetch_content(self, url: str, *, max_size: int) -> bytes:
        """Document bytes from the task system's URL (no portal token); 404/410 -> ``content_unavailable``.

        Redirects are followed, each hop through the egress guard; a body over ``max_size``
        bytes raises ``ResponseTooLarge``.
        """
        try:
            response = await self._http.get(url, follow_redirects=True, extensions=max_bytes(max_size))
        except httpx.TransportError as exc:
            raise TransientPartnerError(
                f"content unreachable: {type(exc).__name__}", code="content_unavailable"
            ) from exc
        if response.status_code in TRANSIENT_STATUSES:
            raise TransientPartnerError(f"content source answered {response.status_code}", code="content_unavailable")
        if not response.is_success:
            raise PermanentPartnerError(
                f"content source answered {response.status_code}",
                code="content_unavailable",
                status=response.status_code,
            )
        return response.content
