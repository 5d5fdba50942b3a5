"""HTTP face of the core system: listings, requests intake, health and test-only controls."""

from __future__ import annotations

import random
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.params import Parameter

from sandbox.core_system.entities import ENTITIES
from sandbox.core_system.intake import RequestConflictError, RequestIn, receive, situation, statuses
from sandbox.core_system.listing import BadCursorError, EntityListing, decode_changed
from sandbox.core_system.model import ident
from sandbox.core_system.state import CoreSystem, Operator, iso_now, parse_instant, sample_indices

MAX_LIMIT = 5000


def resolve_operator(request: Request[Any, Any, State]) -> Operator:
    core: CoreSystem | None = request.app.state.get("core_system")
    if core is None:
        core = CoreSystem()
        request.app.state["core_system"] = core
    operator = core.authenticate(request.headers.get("authorization"))
    if operator is None:
        raise NotAuthorizedException("invalid core-system credentials")
    return operator


def instant(value: str | None) -> int | None:
    try:
        return None if value is None else parse_instant(value)
    except ValueError as exc:
        raise ValidationException(f"not an ISO 8601 instant: {value!r}") from exc


@get(["/health", "/ping"], sync_to_thread=False)
def health(operator: Operator) -> dict[str, Any]:
    """Also what the system is: its edition, and the version of its TISS tables."""
    return {
        "status": "ok",
        "operator": operator.name,
        "now": iso_now(operator),
        "edition": operator.edition,
        "tables_version": operator.tables_version,
    }


@get("/_config", sync_to_thread=False)
def read_config(operator: Operator) -> dict[str, Any]:
    return operator.describe()


@put("/_config", sync_to_thread=False)
def write_config(operator: Operator, data: dict[str, Any]) -> dict[str, Any]:
    try:
        operator.configure(data)
    except (ValueError, TypeError) as exc:
        raise ValidationException(str(exc)) from exc
    return operator.describe()


class Mutation(msgspec.Struct):
    entity: str
    fraction: float = 0.0
    count: int | None = None
    delete: int = 0
    seed: int = 0


@post("/_mutate", sync_to_thread=False, status_code=200)
def mutate(operator: Operator, data: Mutation) -> dict[str, Any]:
    """Change and remove records at the sandbox's ``now``; same seed and state → same records."""
    spec = ENTITIES.get(data.entity)
    if spec is None or spec.source is not None:
        raise ValidationException(f"cannot mutate {data.entity!r}")
    size = spec.size(operator.population)
    overlay = operator.overlay(spec.root, spec.prefix)
    gone = {i for i, o in overlay.changes.items() if o.gone}
    gone |= {i for i in range(size) if spec.base_gone(i) and i not in overlay.changes}
    rng = random.Random(f"{operator.name}:{data.entity}:{data.seed}:{len(overlay.changes)}")
    count = data.count if data.count is not None else round(size * data.fraction)
    changed = sample_indices(size, count, rng, gone)
    deleted = sample_indices(size, data.delete, rng, gone | set(changed))
    now = operator.now()
    for index in changed:
        overlay.touch(index, now, gone=False)
    for index in deleted:
        overlay.touch(index, now, gone=True)
    return {
        "entity": data.entity,
        "now": iso_now(operator),
        "changed": [ident(spec.prefix, i) for i in changed],
        "deleted": [ident(spec.prefix, i) for i in deleted],
    }


@post("/requests", sync_to_thread=False)
def submit_request(operator: Operator, data: RequestIn) -> Response[dict[str, Any]]:
    try:
        request, created = receive(operator, data)
    except ValueError as exc:
        raise ValidationException(str(exc)) from exc
    except RequestConflictError as exc:
        raise HTTPException(status_code=409, detail=f"request {exc} was already received with other content") from exc
    return Response(situation_public(operator, request.id), status_code=201 if created else 200)


def situation_public(operator: Operator, request_id: str) -> dict[str, Any]:
    row = situation(operator.requests[request_id], operator.now())
    del row["_key"]
    return row


@get("/requests", sync_to_thread=False)
def list_requests(
    operator: Operator,
    changed_since: str | None = None,
    kind: str | None = Parameter(default=None, description="comma-separated request kinds"),
    cursor: str | None = None,
    limit: int = Parameter(default=100, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    try:
        after = decode_changed(cursor)
    except BadCursorError as exc:
        raise ValidationException("bad cursor") from exc
    kinds = {k for k in (kind or "").split(",") if k}
    items, last = statuses(operator, instant(changed_since), kinds, after, limit)
    return {"items": items, "next_cursor": f"c.{last[0]}.{last[1]}" if last else None}


@get("/requests/{request_id:str}", sync_to_thread=False)
def read_request(operator: Operator, request_id: str) -> dict[str, Any]:
    if request_id not in operator.requests:
        raise NotFoundException(f"no request {request_id}")
    return situation_public(operator, request_id)


@get("/{entity:str}", sync_to_thread=False)
def list_entity(
    operator: Operator,
    entity: str,
    changed_since: str | None = None,
    cursor: str | None = None,
    limit: int = Parameter(default=100, ge=1, le=MAX_LIMIT),
) -> Response[bytes]:
    """Full listing (live records by id) or, with ``changed_since``, changes by (updated_at, id)."""
    spec = ENTITIES.get(entity)
    if spec is None:
        raise NotFoundException(f"no entity {entity}")
    listing = EntityListing(operator, spec)
    since = instant(changed_since)
    try:
        page = listing.full(cursor, limit) if since is None else listing.changed(since, cursor, limit)
    except BadCursorError as exc:
        raise ValidationException("bad cursor") from exc
    # Encoded here: big pages are the benchmark's hot path and need no schema round trip.
    body = msgspec.json.encode({"items": page.items, "next_cursor": page.next_cursor})
    return Response(body, media_type="application/json")


@get("/", sync_to_thread=False)
def list_entities(operator: Operator) -> dict[str, Any]:
    return {"entities": {name: spec.size(operator.population) for name, spec in ENTITIES.items()}}


router = Router(
    path="/core",
    route_handlers=[
        health,
        read_config,
        write_config,
        mutate,
        submit_request,
        list_requests,
        read_request,
        list_entity,
        list_entities,
    ],
    dependencies={"operator": Provide(resolve_operator, sync_to_thread=False)},
)
