"""What both wire formats share: credentials, windows, snapshot semantics and paging.

Snapshot semantics (seed 000):

* ``as_of_period``: a window [from, to] returns the policies that changed in it, as they
  stood at the end of ``to`` (or today, if ``to`` is later), each with ``as_of`` = that moment.
* ``current_state``: the same selection, but every record is today's state, ``as_of`` = now.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

from sandbox.insurers.aggregators import OVERLAPS, AggregatorPortfolio
from sandbox.insurers.catalogue import SOURCES, Source
from sandbox.insurers.config import CLOCK, CONFIG
from sandbox.insurers.portfolio import Portfolio


class RequestError(Exception):
    """A request the insurer refuses; ``code`` is stable, ``status`` is the REST status."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


class Window(NamedTuple):
    first: int  # date ordinals, inclusive
    last: int
    day: int  # the day whose state is reported
    as_of: str


def authenticate(username: str | None, password: str | None) -> None:
    if not username or password != CONFIG.password:
        raise RequestError("unauthorized", "invalid username or password", 401)


@lru_cache(maxsize=256)
def _portfolio(code: str, account: str, options: tuple[tuple[str, str], ...], size: int, r: int) -> Portfolio:
    kind = AggregatorPortfolio if code in OVERLAPS else Portfolio
    return kind(SOURCES[code], account, dict(options), size, r)


def portfolio(source: Source, account: str, options: dict[str, str]) -> Portfolio:
    key = tuple(sorted(options.items()))
    return _portfolio(source.code, account, key, CONFIG.policies_per_insurer, CONFIG.receipts_per_policy)


def now_iso() -> str:
    return CLOCK.now().isoformat().replace("+00:00", "Z")


def parse_day(value: str | None, name: str) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise RequestError("invalid_request", f"{name} must be a date (YYYY-MM-DD)") from None


def window(source: Source, period_from: str | None, period_to: str | None) -> Window:
    start, end = parse_day(period_from, "from"), parse_day(period_to, "to")
    if end < start:
        raise RequestError("invalid_request", "the period ends before it starts")
    if (end - start).days + 1 > source.max_window_days:
        raise RequestError("window_too_long", f"at most {source.max_window_days} days per request")
    today = CLOCK.today().toordinal()
    last = min(end.toordinal(), today)
    if source.snapshot == "as_of_period" and last < today:
        return Window(start.toordinal(), last, last, f"{date.fromordinal(last).isoformat()}T23:59:59Z")
    return Window(start.toordinal(), last, today, now_iso())


def parse_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise RequestError("invalid_request", "unknown cursor")
    return int(cursor)


def page(book: Portfolio, win: Window, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    limit = max(1, min(limit, CONFIG.max_page_size))
    found, next_index = book.page(parse_cursor(cursor), win.first, win.last, limit)
    records = [book.record(sk, win.day, win.as_of) for sk in found]
    return records, (None if next_index is None else str(next_index))


def one_policy(book: Portfolio, number: str) -> dict[str, Any]:
    """Today's state of one policy (seed 002: "Importuj bieżący stan polisy")."""
    index = book.index_of(number)
    today = CLOCK.today().toordinal()
    sk = None if index is None else book.skeleton(index)
    if sk is None or sk.issue > today:
        raise RequestError("not_found", f"no policy {number}", 404)
    return book.record(sk, today, now_iso())
