"""Cursor pagination, the one helper every list endpoint uses.

Keyset, not offset: the cursor holds the sort values of the last row returned, so pages stay
stable while rows are inserted, and a deep page costs the same as the first.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from litestar.params import Parameter
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gateway.errors import BadRequest, FieldError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageParams(msgspec.Struct, frozen=True):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def provide_page_params(
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Parameter(description="`next_cursor` from the previous page; omit for the first page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).decode().rstrip("=")


def _decode_cursor(cursor: str, columns: Sequence[InstrumentedAttribute[Any]]) -> list[Any]:
    try:
        raw = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError("cursor shape")
        return [msgspec.convert(v, col.type.python_type, strict=False) for v, col in zip(raw, columns, strict=True)]
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest(
            "The cursor is not one this API issued.",
            errors=[FieldError(pointer="/cursor", detail="invalid cursor", source="query")],
        ) from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    page: PageParams,
    *,
    order_by: Sequence[InstrumentedAttribute[Any]],
    descending: bool = True,
) -> tuple[list[Any], str | None]:
    """Run ``stmt`` (a select of one entity) one page at a time, ordered by ``order_by``.

    ``order_by`` must end with a unique column (the id) so ties never drop rows.
    """
    key = tuple_(*order_by)
    if page.cursor:
        after = tuple_(*_decode_cursor(page.cursor, order_by))
        stmt = stmt.where(key < after if descending else key > after)
    stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c in order_by)).limit(page.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        next_cursor = encode_cursor([_jsonable(getattr(last, c.key)) for c in order_by])
    return rows, next_cursor


def _jsonable(value: Any) -> Any:
    return msgspec.to_builtins(value)
