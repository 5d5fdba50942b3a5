"""The tenant's client-portal integration: address, encrypted token, enabled flag."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.documents import schemas, templates
from gateway.documents.models import PortalIntegration
from gateway.egress import check_configured_url
from gateway.errors import Conflict, FieldError, NotFound, ServiceUnavailable, Unprocessable
from gateway.partners.client_portal import (
    MAX_CONFLICTS,
    ClientPortalClient,
    DeliveredFile,
    PortalConflictError,
    PortalFile,
    numbered,
)
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.runtime import Runtime
from gateway.settings import Settings

IN_PLACE_TRIES = 4  # tries of a portal call in place, whatever the portal's recent health
IN_PLACE_MAX_TRIES = 12  # beyond IN_PLACE_TRIES, each try spends answers the session banked
IN_PLACE_BASE_SECONDS = 0.02
IN_PLACE_MAX_DELAY = 0.25
ANSWERS_PER_EXTRA_TRY = 5  # extra tries stay under a fifth of the calls the portal answered
ANSWERS_BANKED_MAX = 100  # so at most 20 extra tries in a row, however long the portal was up
VIEWED_NAMES_SECONDS = 60.0  # how long a session trusts that a name is held by a viewed file
VIEWED_NAMES_MAX = 10_000


def default_base_url(settings: Settings) -> str:
    return f"{settings.sandbox_url}/portal"


async def get_integration(session: AsyncSession, tenant_id: uuid.UUID) -> PortalIntegration | None:
    return await session.get(PortalIntegration, tenant_id)


def refusal(integration: PortalIntegration | None, unmapped: int) -> str | None:
    """Why deliveries are refused right now (None: they are sent), with the unmapped count."""
    if integration is not None and not integration.enabled:
        return None  # disabled: documents are skipped, not refused
    if integration is None or integration.token_encrypted is None or integration.checked_at is None:
        return (
            "Deliveries are refused until the client-portal connection is checked "
            f"(set the token, then POST /v1/document-portal/integration/check); {unmapped} template(s) "
            "have no destination folder."
        )
    return None


async def describe(session: AsyncSession, tenant_id: uuid.UUID, settings: Settings) -> schemas.PortalIntegration:
    integration = await get_integration(session, tenant_id)
    unmapped = await templates.count_unmapped(session, tenant_id)
    return schemas.PortalIntegration(
        base_url=integration.base_url if integration else default_base_url(settings),
        enabled=integration.enabled if integration else True,
        token_set=bool(integration and integration.token_encrypted),
        unmapped_templates=unmapped,
        updated_at=integration.updated_at if integration else None,
        checked_at=integration.checked_at if integration else None,
        refusal=refusal(integration, unmapped),
    )


async def update_integration(
    session: AsyncSession, tenant_id: uuid.UUID, data: schemas.PortalIntegrationUpdate, runtime: Runtime
) -> schemas.PortalIntegration:
    """Save the setting; enabling checks the connection (unless the current one already was)
    and the answer reports how many templates still have no destination."""
    integration = await get_integration(session, tenant_id)
    if integration is None:
        integration = PortalIntegration(tenant_id=tenant_id, base_url=default_base_url(runtime.settings))
        session.add(integration)
    if data.base_url is not None:
        await check_configured_url(runtime.egress, data.base_url, pointer="/base_url")
    if data.base_url is not None and data.base_url.rstrip("/") != integration.base_url:
        integration.base_url = data.base_url.rstrip("/")
        integration.checked_at = None
    if data.token is not None:
        integration.token_encrypted = runtime.cipher.encrypt({"token": data.token})
        integration.checked_at = None
    if data.enabled and not integration.token_encrypted:
        raise Unprocessable(
            "The portal token is needed to enable the integration.",
            errors=[FieldError(pointer="/token", detail="required to enable")],
        )
    integration.enabled = data.enabled
    integration.updated_at = utcnow()
    if data.enabled and integration.checked_at is None:
        await _check(runtime, integration)
    if data.apply_default_folders:
        await templates.apply_default_folders(session, tenant_id, overwrite=False)
    await session.flush()
    return await describe(session, tenant_id, runtime.settings)


async def check_integration(session: AsyncSession, tenant_id: uuid.UUID, runtime: Runtime) -> schemas.PortalIntegration:
    """Ask the portal whether it accepts the stored token; on success deliveries may start."""
    integration = await get_integration(session, tenant_id)
    if integration is None or integration.token_encrypted is None:
        raise Conflict("Set the portal token first (PUT /v1/document-portal/integration).")
    await _check(runtime, integration)
    await session.flush()
    return await describe(session, tenant_id, runtime.settings)


async def _check(runtime: Runtime, integration: PortalIntegration) -> None:
    try:
        await portal_client(runtime, integration).check()
    except TransientPartnerError as exc:
        raise ServiceUnavailable("The client portal is unavailable; try the check again.") from exc
    except PermanentPartnerError as exc:
        raise Unprocessable(
            f"The client portal refused the connection: {exc.code}.",
            errors=[FieldError(pointer="/token", detail="refused by the portal")],
        ) from exc
    integration.checked_at = utcnow()


class RetryingPortalClient(ClientPortalClient):
    """The delivery's portal session: in-place retries, a per-client folder cache, create first.

    Retries each portal call a few times in place on a transient failure.

    A delivery is 3-4 portal calls; without this one flaky call costs a whole task round
    trip (claim, reload, backoff). Retrying is safe for every call the delivery makes: a
    create that did land answers 409 with the holder, whose sha256 shows it is ours. Longer
    outages still fall through to the task runner's backoff.

    A call gets ``IN_PLACE_TRIES`` tries, and up to ``IN_PLACE_MAX_TRIES`` while the portal
    mostly answers: the session banks each answered call, and each try past the first
    ``IN_PLACE_TRIES`` spends ``ANSWERS_PER_EXTRA_TRY`` of them (a retry budget, as in
    Finagle or Envoy). A portal that fails one call in five then costs no task a backoff
    (four failures in a row happen to one call in 600: with a 2 s backoff they were the last
    seconds of a batch; eight in a row, one call in 390,000, still happened in about one run
    in ten of bench.document_delivery's 14,000 calls, so twelve tries, about 2 s at most, as
    long as the backoff they spare); a portal that is down earns nothing, so its calls stop
    at ``IN_PLACE_TRIES`` and the task backs off as before.
    """

    def __init__(self, base_url: str, token: str, *, http: httpx.AsyncClient, max_in_flight: int) -> None:
        super().__init__(base_url, token, http=http)
        # The session is shared by every delivery of the tenant in this process: bound what it
        # asks of the portal at once (beyond that, requests only queue in the pool, which
        # httpcore scans on every request), and list a client's folders once, not per document.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._listing: dict[str, asyncio.Lock] = {}
        self._listed: set[str] = set()
        self.answers_banked = 0
        # (client, folder id, name) -> the viewed file holding it, and when it was seen
        self._viewed: dict[tuple[str, str, str], tuple[PortalFile, float]] = {}
        # (client, folder id, name) -> its deliveries in this session, waiting their turn
        self._naming: dict[tuple[str, str, str], _NameTurn] = {}

    async def _call(self, *args: Any, **kwargs: Any) -> bytes:
        attempt = 1
        while True:
            try:
                async with self._in_flight:
                    body = await super()._call(*args, **kwargs)
            except TransientPartnerError:
                if not self._may_retry(attempt):
                    raise
            except PermanentPartnerError:
                self._answered()  # a 4xx is an answer: the portal is up
                raise
            else:
                self._answered()
                return body
            await asyncio.sleep(min(IN_PLACE_BASE_SECONDS * 2**attempt, IN_PLACE_MAX_DELAY) * random.uniform(0.5, 1.5))
            attempt += 1

    def _answered(self) -> None:
        self.answers_banked = min(self.answers_banked + 1, ANSWERS_BANKED_MAX)

    def _may_retry(self, attempt: int) -> bool:
        """Whether a call whose ``attempt``-th try failed transiently tries again in place."""
        if attempt < IN_PLACE_TRIES:
            return True
        if attempt >= IN_PLACE_MAX_TRIES or self.answers_banked < ANSWERS_PER_EXTRA_TRY:
            return False
        self.answers_banked -= ANSWERS_PER_EXTRA_TRY
        return True

    async def ensure_folder_path(self, client_id: str, path: Sequence[str]) -> str:
        # One listing caches every folder of the client, not just this path: the next
        # template of the same client then needs no round trip. Missing folders are created
        # from the cached ids, without listing again.
        key = (client_id, tuple(path))
        cached = self._folder_ids.get(key)
        if cached is not None:
            return cached
        async with self._listing.setdefault(client_id, asyncio.Lock()):  # concurrent deliveries wait for one
            if client_id not in self._listed:
                for folder in await self.list_folders(client_id):
                    self._folder_ids.setdefault((client_id, tuple(folder.path)), folder.id)
                self._listed.add(client_id)
            parent_id: str | None = None
            for depth in range(1, len(path) + 1):
                folder_id = self._folder_ids.get((client_id, tuple(path[:depth])))
                if folder_id is None:
                    folder_id = await self.create_folder(client_id, path[depth - 1], parent_id)
                    self._folder_ids[(client_id, tuple(path[:depth]))] = folder_id
                parent_id = folder_id
        if parent_id is None:
            raise ValueError("a destination folder path needs at least one folder")
        return parent_id

    async def deliver_file(
        self,
        client_id: str,
        folder_path: Sequence[str],
        name: str,
        content: bytes,
        content_type: str = "application/octet-stream",
    ) -> DeliveredFile:
        """Create under the document's own name first; walk the naming rule only if it is taken.

        Most names are free, so this is one call instead of a listing plus a create. A 409
        ``exists`` (another file, or these bytes from an earlier try) hands over to the
        full rule, which lists the name's holders and replaces, numbers or recognises them.

        A name this session saw held by a viewed file skips both: a viewed file stays locked,
        so the walk starts from what the session knows (``_known``) and a 409 on the way tells
        it what it did not. A client who views every file at once gets ``Name (k)`` in one
        call, not a refused create, a listing and a create.

        Deliveries of one name take turns in the session: the second starts from what the
        first learned, instead of racing it for the same ``Name (k)`` and walking on from a
        409 (in bench.document_delivery, 2,165 refused creates for 1,000 such documents).
        Other names, and other processes, are not held up.
        """
        folder_id = await self.ensure_folder_path(client_id, folder_path)
        key = (client_id, folder_id, name)
        turn = self._naming.get(key) or self._naming.setdefault(key, _NameTurn())
        turn.users += 1
        try:
            async with turn.lock:
                return await self._deliver_named(client_id, folder_id, name, content, content_type)
        finally:
            turn.users -= 1
            if not turn.users:
                del self._naming[key]

    async def _deliver_named(
        self, client_id: str, folder_id: str, name: str, content: bytes, content_type: str
    ) -> DeliveredFile:
        holders = self._known(client_id, folder_id, name)
        if not holders:
            try:
                created = await self.create_file(client_id, folder_id, name, content, content_type)
            except PortalConflictError as conflict:
                if conflict.code != "exists":
                    raise
                holders = await self._holders(client_id, folder_id, name)
            else:
                self._held(client_id, folder_id, created)
                return DeliveredFile(name, created.id, False, hashlib.sha256(content).hexdigest())
        return await self._walk(client_id, folder_id, name, content, content_type, holders)

    def _held(self, client_id: str, folder_id: str, file: PortalFile) -> None:
        key = (client_id, folder_id, file.name)
        if not file.viewed:
            self._viewed.pop(key, None)  # it may be replaced: ask the portal next time
            return
        if len(self._viewed) >= VIEWED_NAMES_MAX:
            self._viewed.clear()
        self._viewed[key] = (file, time.monotonic())

    def _known(self, client_id: str, folder_id: str, name: str) -> dict[str, PortalFile]:
        """The viewed files this session saw holding ``name``, ``Name (1)``... in a row from
        the name itself, each seen within ``VIEWED_NAMES_SECONDS`` (a client may delete one)."""
        known: dict[str, PortalFile] = {}
        seen_after = time.monotonic() - VIEWED_NAMES_SECONDS
        for n in range(MAX_CONFLICTS):
            candidate = numbered(name, n)
            entry = self._viewed.get((client_id, folder_id, candidate))
            if entry is None or entry[1] < seen_after:
                break
            known[candidate] = entry[0]
        return known


class _NameTurn:
    """One name's deliveries in a session: the lock they take turns on, and how many there are."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def portal_client(runtime: Runtime, integration: PortalIntegration) -> ClientPortalClient:
    """A portal session on the process's shared connection pool."""
    if integration.token_encrypted is None:
        raise ValueError("no portal token stored")
    token = str(runtime.cipher.decrypt(integration.token_encrypted)["token"])
    return RetryingPortalClient(
        integration.base_url, token, http=runtime.http, max_in_flight=runtime.settings.worker_concurrency
    )


# Deliveries reuse one portal session per (tenant, address, token) in a process, so the
# folder ids it caches save a tree listing on every document. A changed token or address
# makes a new key; ``forget_portal_session`` drops one whose cached folder vanished.
_SESSIONS: dict[tuple[int, uuid.UUID, str, bytes | None], ClientPortalClient] = {}
MAX_SESSIONS = 1000


def _session_key(runtime: Runtime, integration: PortalIntegration) -> tuple[int, uuid.UUID, str, bytes | None]:
    return (id(runtime.http), integration.tenant_id, integration.base_url, integration.token_encrypted)


def portal_session(runtime: Runtime, integration: PortalIntegration) -> ClientPortalClient:
    key = _session_key(runtime, integration)
    session = _SESSIONS.get(key)
    if session is None:
        if len(_SESSIONS) >= MAX_SESSIONS:
            _SESSIONS.clear()
        session = _SESSIONS[key] = portal_client(runtime, integration)
    return session


def forget_portal_session(runtime: Runtime, integration: PortalIntegration) -> None:
    _SESSIONS.pop(_session_key(runtime, integration), None)


async def model_client_folders(
    session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, client_id: str
) -> list[list[str]]:
    """Folder paths of a client chosen as model: only names are read, never files."""
    integration = await get_integration(session, tenant_id)
    if integration is None or integration.token_encrypted is None:
        raise Conflict("Set the portal token first (PUT /v1/document-portal/integration).")
    try:
        folders = await portal_client(runtime, integration).list_folders(client_id)
    except TransientPartnerError as exc:
        raise ServiceUnavailable("The client portal is unavailable; try again.") from exc
    except PermanentPartnerError as exc:
        if exc.status == 404:
            raise NotFound(f"The portal has no client {client_id!r}.") from exc
        raise Unprocessable(f"The portal refused to show client {client_id!r}: {exc.code}.") from exc
    return sorted(list(f.path) for f in folders)


async def ensure_path_in_model(
    session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, client_id: str, folder_path: list[str]
) -> None:
    if folder_path not in await model_client_folders(session, runtime, tenant_id, client_id):
        raise Unprocessable(
            f"Client {client_id!r} has no folder {' > '.join(folder_path)!r}.",
            errors=[FieldError(pointer="/folder_path", detail="not in the model client's tree")],
        )
