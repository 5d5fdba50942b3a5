"""HTTP face of the Boavista sandbox: the partner API (token per establishment) and test-only ``_`` routes."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from itertools import islice
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Request, Router, delete, get, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_409_CONFLICT

from sandbox.boavista.ledger import LedgerConfig, acquirer_records, erp_record, sales_of_day, terminals_of
from sandbox.boavista.remittances import (
    Boavista,
    BoavistaConfig,
    Remittance,
    RemittanceIn,
    WebhookTarget,
    establishment_token,
)

MAX_RANGE_DAYS = 31
Json = dict[str, Any]


def provide_boavista(state: State) -> Boavista:
    boavista = state.get("boavista")
    if boavista is None:
        boavista = state["boavista"] = Boavista()
    return boavista


def authorize(boavista: Boavista, code: str, request: Request[Any, Any, Any]) -> None:
    token = boavista.tokens.get(code)
    if token is None:
        raise NotFoundException(f"unknown establishment {code}", extra={"error": "establishment_not_found"})
    if request.headers.get("authorization", "") != f"Bearer {token}":
        raise NotAuthorizedException("invalid token for this establishment", extra={"error": "unauthorized"})


def _encode_cursor(day: date, index: int, sub: int) -> str:
    return base64.urlsafe_b64encode(f"{day.toordinal()}.{index}.{sub}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[date, int, int]:
    try:
        ordinal, index, sub = base64.urlsafe_b64decode(cursor.encode()).decode().split(".")
        return date.fromordinal(int(ordinal)), int(index), int(sub)
    except ValueError as exc:
        raise ClientException("invalid cursor", extra={"error": "invalid_request"}) from exc


def sales_page(cfg: LedgerConfig, code: str, position: tuple[date, int, int], last: date, limit: int) -> Json:
    """Acquirer records from ``position`` on; a cursor is only returned when another record exists."""
    day, index, skip = position
    items: list[dict[str, object]] = []
    while day <= last:
        for sale in sales_of_day(cfg, code, day, index):
            records = acquirer_records(cfg, sale)
            for sub in range(skip, len(records)):
                if len(items) == limit:
                    return {"items": items, "next_cursor": _encode_cursor(day, sale.index, sub)}
                items.append(records[sub])
            skip = 0
        day, index = day + timedelta(days=1), 0
    return {"items": items, "next_cursor": None}


@get("/establishments/{code:str}", sync_to_thread=False)
def get_establishment(code: str, boavista: Boavista, request: Request[Any, Any, Any]) -> Json:
    authorize(boavista, code, request)
    terminals = terminals_of(boavista.config.seed, code)
    target = boavista.webhooks.get(code)
    return {
        "establishment_code": code,
        "terminals": [{"terminal_id": t, "acquirer": a} for t, a in terminals],
        "webhook_url": target.url if target else None,
    }


@get("/establishments/{code:str}/sales", sync_to_thread=False)
def list_sales(
    code: str,
    boavista: Boavista,
    request: Request[Any, Any, Any],
    day_from: Annotated[date, Parameter(query="from")],
    day_to: Annotated[date, Parameter(query="to")],
    cursor: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=5_000)] = 500,
) -> Json:
    authorize(boavista, code, request)
    if day_from > day_to or (day_to - day_from).days >= MAX_RANGE_DAYS:
        detail = f"from must not be after to, and the range is at most {MAX_RANGE_DAYS} days"
        raise ClientException(detail, extra={"error": "invalid_request"})
    position = _decode_cursor(cursor) if cursor else (day_from, 0, 0)
    last = min(day_to, boavista.config.current_day())  # tomorrow's sales do not exist yet
    return sales_page(boavista.config, code, position, last, limit)


@put("/establishments/{code:str}/webhook", sync_to_thread=False)
def configure_webhook(code: str, data: WebhookTarget, boavista: Boavista, request: Request[Any, Any, Any]) -> Json:
    authorize(boavista, code, request)
    if not data.secret.startswith("whsec_") or not data.url.startswith(("http://", "https://")):
        detail = "url must be http(s) and secret a whsec_ Standard Webhooks secret"
        raise ClientException(detail, extra={"error": "invalid_request"})
    boavista.webhooks[code] = data
    return {"establishment_code": code, "url": data.url}  # the secret is never echoed back


@post("/establishments/{code:str}/remittances", status_code=HTTP_202_ACCEPTED, sync_to_thread=False)
def send_remittance(code: str, data: RemittanceIn, boavista: Boavista, request: Request[Any, Any, Any]) -> Json:
    authorize(boavista, code, request)
    remittance, same_items = boavista.receive(code, data)
    if not same_items:
        detail = f"remittance {data.remittance_id} was already sent with other items"
        raise ClientException(detail, status_code=HTTP_409_CONFLICT, extra={"error": "remittance_conflict"})
    return remittance.receipt()


@get("/establishments/{code:str}/remittances/{remittance_id:str}", sync_to_thread=False)
def get_remittance(code: str, remittance_id: str, boavista: Boavista, request: Request[Any, Any, Any]) -> Json:
    """Polling fallback for a return whose webhook never arrived."""
    authorize(boavista, code, request)
    found = boavista.find(remittance_id, code)
    if not found:
        raise NotFoundException(f"unknown remittance {remittance_id}", extra={"error": "remittance_not_found"})
    remittance = found[0]
    return {**remittance.receipt(), "items": remittance.return_items}


@get("/_config", sync_to_thread=False)
def get_config(boavista: Boavista) -> BoavistaConfig:
    return boavista.config


@put("/_config", sync_to_thread=False)
def set_config(data: Json, boavista: Boavista) -> BoavistaConfig:
    """Fields left out keep their current value."""
    try:
        config = msgspec.convert({**msgspec.structs.asdict(boavista.config), **data}, BoavistaConfig)
        ZoneInfo(config.timezone)
    except (msgspec.ValidationError, ZoneInfoNotFoundError, ValueError) as exc:
        raise ClientException(str(exc)) from exc
    boavista.config = config
    return config


@get("/_establishments", sync_to_thread=False)
def list_establishments(boavista: Boavista) -> list[Json]:
    return [{"establishment_code": code, "token": token} for code, token in boavista.tokens.items()]


@put("/_establishments/{code:str}", sync_to_thread=False)
def register_establishment(code: str, boavista: Boavista) -> Json:
    boavista.tokens[code] = establishment_token(code)
    return {"establishment_code": code, "token": boavista.tokens[code]}


@get("/_erp_sales/{code:str}", sync_to_thread=False)
def erp_sales(
    code: str,
    day: date,
    boavista: Boavista,
    cursor: Annotated[int, Parameter(ge=0)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=100_000)] = 10_000,
    corrected: bool = False,
) -> Json:
    """What the pharmacy ERP sold that day; ``divergences`` says which items Boavista will flag, and why."""
    if code not in boavista.tokens:
        raise NotFoundException(f"unknown establishment {code}", extra={"error": "establishment_not_found"})
    cfg = boavista.config
    sales = list(islice(sales_of_day(cfg, code, day, cursor), limit))
    items = [erp_record(code, sale, corrected=corrected) for sale in sales]
    planted = zip(items, sales, strict=True)
    divergences = {} if corrected else {item["sale_id"]: sale.divergence for item, sale in planted if sale.divergence}
    more = bool(sales) and sales[-1].index + 1 < cfg.sales_per_day
    return {
        "establishment_code": code,
        "day": day.isoformat(),
        "items": items,
        "divergences": divergences,
        "next_cursor": sales[-1].index + 1 if more else None,
    }


@get("/_deliveries", sync_to_thread=False)
def list_deliveries(boavista: Boavista, remittance_id: str | None = None) -> list[Json]:
    return [d.summary() for d in boavista.deliveries if remittance_id in (None, d.remittance_id)]


def _one_remittance(boavista: Boavista, remittance_id: str, establishment: str | None) -> Remittance:
    found = boavista.find(remittance_id, establishment)
    if len(found) != 1:
        raise NotFoundException(f"no single remittance {remittance_id}; pass ?establishment= if ambiguous")
    return found[0]


@post("/_resend/{remittance_id:str}", status_code=HTTP_202_ACCEPTED, sync_to_thread=False)
def resend_return(remittance_id: str, boavista: Boavista, establishment: str | None = None) -> Json:
    """Deliver the last return again under the same webhook id, as a sender's retry would."""
    delivery = boavista.resend(_one_remittance(boavista, remittance_id, establishment))
    if delivery is None:
        raise ClientException("remittance not returned yet", status_code=HTTP_409_CONFLICT)
    return delivery.summary()


@post("/_return_again/{remittance_id:str}", status_code=HTTP_202_ACCEPTED, sync_to_thread=False)
def second_return(remittance_id: str, boavista: Boavista, establishment: str | None = None) -> Json:
    """A second return for the same remittance, as a new message (new webhook id)."""
    delivery = boavista.return_again(_one_remittance(boavista, remittance_id, establishment))
    if delivery is None:
        raise ClientException("remittance not returned yet", status_code=HTTP_409_CONFLICT)
    return delivery.summary()


@delete("/_remittances/{remittance_id:str}", status_code=HTTP_200_OK, sync_to_thread=False)
def forget_remittance(remittance_id: str, boavista: Boavista, establishment: str | None = None) -> Json:
    """Boavista loses a remittance (it then answers ``remittance_not_found``), as after an outage."""
    remittance = _one_remittance(boavista, remittance_id, establishment)
    del boavista.remittances[remittance.code, remittance.remittance_id]
    return remittance.receipt()


router = Router(
    path="/boavista",
    route_handlers=[
        get_establishment,
        list_sales,
        configure_webhook,
        send_remittance,
        get_remittance,
        get_config,
        set_config,
        list_establishments,
        register_establishment,
        erp_sales,
        list_deliveries,
        resend_return,
        second_return,
        forget_remittance,
    ],
    dependencies={"boavista": Provide(provide_boavista, sync_to_thread=False)},
)
