"""Import periods: what a person may ask for, how it is cut into windows, what is chained.

Dates are whole days, inclusive at both ends, as insurers take them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from gateway.errors import FieldError, Unprocessable
from gateway.imports.catalogue import Insurer

MAX_SPAN_DAYS = 366  # "a span over one year" is refused; a leap year still fits

Window = tuple[date, date]


def today_utc() -> date:
    return datetime.now(UTC).date()


def check_period(start: date, end: date, *, today: date, pointer: str = "/period") -> None:
    """422 with a pointer per problem: a future period, ``from > to``, a span over a year."""
    errors: list[FieldError] = []
    if start > end:
        errors.append(
            FieldError(pointer=f"{pointer}/from", detail=f"the period starts ({start}) after it ends ({end})")
        )
    if end > today:
        errors.append(FieldError(pointer=f"{pointer}/to", detail=f"{end} is in the future (today is {today})"))
    if start <= end and (end - start).days + 1 > MAX_SPAN_DAYS:
        errors.append(FieldError(pointer=pointer, detail=f"at most {MAX_SPAN_DAYS} days per import; split the period"))
    if errors:
        raise Unprocessable("The import period is not valid.", errors=errors)


def split(start: date, end: date, max_days: int) -> list[Window]:
    """Consecutive windows of at most ``max_days`` covering [start, end] exactly."""
    windows: list[Window] = []
    while start <= end:
        last = min(end, start + timedelta(days=max_days - 1))
        windows.append((start, last))
        start = last + timedelta(days=1)
    return windows


def chain_forward(insurer: Insurer, end: date, *, today: date) -> list[Window]:
    """Windows from the day after ``end`` to today that must follow a past period.

    *as-of-period* insurers answer with the state *as it was* in the period asked (seed 000:
    re-importing July brings back July's pending receipts), so the days after it are imported
    too, up to today, for the history to end in today's state. *current-state* insurers need
    nothing: they always answer with today's state.
    """
    if insurer.snapshot != "as_of_period" or end >= today:
        return []
    return split(end + timedelta(days=1), today, insurer.max_window_days)


def chain_reason(insurer: Insurer, end: date) -> str:
    return (
        f"{insurer.name} sends records as they were in the period asked, so a past period would leave "
        f"them as they stood on {end}; the days from {end + timedelta(days=1)} to today are imported too."
    )


def windows_param(windows: list[Window]) -> list[list[str]]:
    return [[a.isoformat(), b.isoformat()] for a, b in windows]


def windows_from_param(raw: list[list[str]]) -> list[Window]:
    return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in raw]
