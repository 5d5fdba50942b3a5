"""The three-day window, in the establishment's local days (America/Sao_Paulo by default).

Boavista reconciles sales "up to three days back": a sale of local day D can be reconciled
through day D+3 and expires when D+4 begins there. A correction restarts the count from the
local day it was made on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WINDOW_DAYS = 3


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant the local ``day`` begins (zoneinfo resolves any DST gap)."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def window_end(anchor_day: date, timezone: str) -> datetime:
    """When a sale anchored on ``anchor_day`` leaves its window: the start of local day +4."""
    return local_midnight(anchor_day + timedelta(days=WINDOW_DAYS + 1), timezone)


def fetch_days(now: datetime, timezone: str) -> tuple[date, date]:
    """The local days whose acquirer sales a run fetches: today and the three before it."""
    today = local_day(now, timezone)
    return today - timedelta(days=WINDOW_DAYS), today
