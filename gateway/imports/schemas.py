"""API shapes of the insurer imports (catalogue, connections, import tasks, results)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from gateway.imports import catalogue
from gateway.tasks.models import TaskStatus
from gateway.tasks.schemas import Progress

HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time, HH:MM")]
Trigger = Literal[
    "scheduled", "manual_period", "single_policy", "reimport", "real_time", "preview", "preview_selection"
]
OptionValues = Annotated[dict[str, str], msgspec.Meta(max_length=10)]


class InsurerOption(msgspec.Struct):
    key: str
    values: list[str]
    required: bool
    default: str | None
    description: str


class Insurer(msgspec.Struct):
    code: str
    name: str
    country: str
    protocol: str
    snapshot: Literal["as_of_period", "current_state"]
    max_window_days: int
    realtime: bool
    application: str | None
    scope: str
    options: list[InsurerOption]

    @classmethod
    def from_catalogue(cls, i: catalogue.Insurer) -> Insurer:
        options = [InsurerOption(o.key, list(o.values), o.required, o.default, o.description) for o in i.options]
        return cls(
            i.code,
            i.name,
            i.country,
            i.protocol,
            i.snapshot,
            i.max_window_days,
            i.realtime,
            i.application,
            i.scope,
            options,
        )


class InsurerPage(msgspec.Struct):
    items: list[Insurer]
    next_cursor: str | None = None


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class Schedule(msgspec.Struct):
    """The daily import: at ``time`` in ``timezone``, when ``enabled``."""

    time: HHMM = "06:00"
    timezone: str | None = None  # default: the insurer's country (Europe/Lisbon, Europe/Warsaw)
    enabled: bool = True


class ConnectionCreate(msgspec.Struct, forbid_unknown_fields=True):
    insurer: str
    credentials: Credentials
    options: dict[str, str] = {}
    base_url: str | None = None  # default: the sandbox's endpoint for the insurer
    schedule: Schedule = msgspec.field(default_factory=Schedule)
    enabled: bool = True


class ConnectionUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    credentials: Credentials | None = None
    options: dict[str, str] | None = None
    base_url: str | None = None
    schedule: Schedule | None = None
    enabled: bool | None = None


class LastImport(msgspec.Struct):
    task_id: uuid.UUID
    status: TaskStatus
    trigger: str
    finished_at: datetime | None
    counters: ImportCounters


class CredentialsHealth(msgspec.Struct):
    worked: bool | None  # None: not used since they were set
    checked_at: datetime | None
    error_code: str | None  # unauthorized, permission_denied, identity_mismatch


class ConnectionHealth(msgspec.Struct):
    """ok, warning (last import partially succeeded), failing (last import failed or the
    credentials were refused), never_run, disabled."""

    status: Literal["ok", "warning", "failing", "never_run", "disabled"]
    last_import: LastImport | None  # the most recent finished import
    next_run_at: datetime | None  # the next scheduled import; None when not scheduled
    credentials: CredentialsHealth


class Connection(msgspec.Struct):
    """A tenant's connection to an insurer. Credentials are write-only: never returned."""

    id: uuid.UUID
    insurer: str
    insurer_name: str
    base_url: str
    options: dict[str, str]
    schedule: Schedule
    enabled: bool
    has_credentials: bool
    covered_until: date | None
    created_at: datetime
    updated_at: datetime
    health: ConnectionHealth | None = None


class ConnectionPage(msgspec.Struct):
    items: list[Connection]
    next_cursor: str | None


class ConnectionTest(msgspec.Struct):
    ok: bool
    insurer: str
    server_time: str | None
    latency_ms: int


class Period(msgspec.Struct, forbid_unknown_fields=True):
    from_: date = msgspec.field(name="from")
    to: date


PolicyNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ImportCreate(msgspec.Struct, forbid_unknown_fields=True):
    """One of: a ``period`` (the policies changed in it), one ``policy_number``, or a finished
    ``preview_id`` with the ``policy_numbers`` chosen from its list (default: the preselected).

    ``options`` override the connection's for this import only (Agent21 lets the user choose
    them per import, e.g. Warta ``product: life`` on a property connection)."""

    period: Period | None = None
    policy_number: PolicyNumber | None = None
    preview_id: uuid.UUID | None = None
    policy_numbers: Annotated[list[PolicyNumber], msgspec.Meta(min_length=1, max_length=5000)] | None = None
    options: OptionValues | None = None


class PreviewCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Read the insurer's list for a period without importing it."""

    period: Period
    options: OptionValues | None = None


class PreviewItem(msgspec.Struct):
    """One policy of the insurer's list, flagged against what Ponte holds."""

    policy_number: str | None
    insurer: str | None  # the underwriting insurer
    holder_name: str | None
    product: str | None
    status: str | None
    updated_on: date | None
    in_ponte: bool  # already in Ponte
    changed: bool  # in Ponte, and changed at the insurer since the last import
    preselected: bool  # chosen by default: not in Ponte yet
    error: str | None  # this record cannot be imported as the insurer sends it


class PreviewItemPage(msgspec.Struct):
    items: list[PreviewItem]
    next_cursor: str | None


class RecordCounters(msgspec.Struct):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale_skipped: int = 0
    failed: int = 0


class ReceiptCounters(RecordCounters):
    settled_kept: int = 0  # settled at the broker; the import's other status was not applied


class ImportCounters(msgspec.Struct):
    policies: RecordCounters
    receipts: ReceiptCounters

    @classmethod
    def from_flat(cls, flat: dict[str, int]) -> ImportCounters:
        def part(prefix: str, kind: type[RecordCounters]) -> Any:
            return kind(**{f: flat.get(f"{prefix}_{f}", 0) for f in kind.__struct_fields__})

        return cls(policies=part("policies", RecordCounters), receipts=part("receipts", ReceiptCounters))


class ImportWindow(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date


class ImportTask(msgspec.Struct):
    """An import task: what it asked for, how far it got, and what it did."""

    id: uuid.UUID
    connection_id: uuid.UUID | None
    insurer: str | None
    trigger: str
    status: TaskStatus
    period: ImportWindow | None
    windows: list[ImportWindow]
    policy_number: str | None
    progress: Progress
    counters: ImportCounters
    attempt: int
    error_code: str | None
    error: str | None
    parent_id: uuid.UUID | None
    chained_from: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    options: dict[str, str] | None = None  # this run's options, when a manual import overrode them
    preview_id: uuid.UUID | None = None  # the preview whose chosen policies this imports
    selected: int | None = None  # how many policies were chosen from the preview


class ImportTaskPage(msgspec.Struct):
    items: list[ImportTask]
    next_cursor: str | None


class ImportLaunch(msgspec.Struct):
    """What a launch created: the task asked for, plus any chained forward to today (and why)."""

    task: ImportTask
    chained: list[ImportTask]
    chain_reason: str | None


class ImportResult(msgspec.Struct):
    id: int
    record_type: Literal["policy", "receipt"]
    policy_number: str | None
    receipt_number: str | None
    outcome: Literal["created", "updated", "unchanged", "stale_skipped", "failed", "settled_kept"]
    error: str | None
    as_of: datetime | None


class ImportResultPage(msgspec.Struct):
    items: list[ImportResult]
    next_cursor: str | None
