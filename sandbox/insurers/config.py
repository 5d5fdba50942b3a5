"""Run-time knobs of the insurer sandbox: portfolio size, the sandbox's "today", the password.

Set over HTTP (``PUT /insurers/_config``) so tests and benchmarks steer a running server;
``DELETE /insurers/_config`` restores the defaults.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import msgspec
from litestar import Router, delete, get, put


class InsurerConfig(msgspec.Struct):
    policies_per_insurer: int = 200
    receipts_per_policy: int = 3
    today: date | None = None  # None: the real date; set it to make "now" deterministic
    password: str = "sandbox"  # every account's password; anything else is refused
    max_page_size: int = 1000


class InsurerConfigUpdate(msgspec.Struct, omit_defaults=True):
    policies_per_insurer: int | None = None
    receipts_per_policy: int | None = None
    today: date | msgspec.UnsetType | None = msgspec.UNSET
    password: str | None = None
    max_page_size: int | None = None


class Clock:
    """The sandbox's notion of now: noon UTC of the configured ``today``, else the real time."""

    def __init__(self, config: InsurerConfig) -> None:
        self.config = config

    def now(self) -> datetime:
        if self.config.today is not None:
            return datetime.combine(self.config.today, time(12), tzinfo=UTC)
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()


# One sandbox process impersonates one set of insurers, so the knobs are process-wide.
CONFIG = InsurerConfig()
CLOCK = Clock(CONFIG)


@get("/", sync_to_thread=False)
def read_config() -> InsurerConfig:
    return CONFIG


@put("/", sync_to_thread=False)
def update_config(data: InsurerConfigUpdate) -> InsurerConfig:
    for field in InsurerConfigUpdate.__struct_fields__:
        value = getattr(data, field)
        # ``today: null`` goes back to the real clock; other nulls mean "leave as is".
        if value is msgspec.UNSET or (value is None and field != "today"):
            continue
        setattr(CONFIG, field, value)
    return CONFIG


@delete("/", sync_to_thread=False)
def reset_config() -> None:
    for field in InsurerConfig.__struct_fields__:
        setattr(CONFIG, field, getattr(InsurerConfig(), field))


config_router = Router(path="/_config", route_handlers=[read_config, update_config, reset_config])
