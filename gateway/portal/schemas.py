"""API shapes of the sync manager, the core-system connection and portal requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from gateway.tasks.schemas import Progress

Frequency = Literal["on_demand", "hourly", "daily", "weekly"]
Freshness = Literal["fresh", "late", "error", "on_demand"]
RequestKind = Literal[
    "card_copy",
    "beneficiary_registration_change",
    "beneficiary_address_change",
    "new_beneficiary",
    "new_family",
    "provider_registration_change",
    "provider_address_change",
]


class CoreSystemConnectionUpdate(msgspec.Struct, kw_only=True):
    """The core system's address (default: the sandbox) and its token. The token is never returned."""

    token: str
    base_url: str | None = None


class CoreSystemConnection(msgspec.Struct, kw_only=True):
    base_url: str
    token_set: bool
    check_status: Literal["unchecked", "ok", "failed"]
    checked_at: datetime | None
    check_error: str | None
    ready: bool
    problem: str | None


class SyncSchedule(msgspec.Struct, kw_only=True):
    frequency: Frequency
    heavy_acknowledged: bool
    updated_at: datetime | None


class SyncScheduleUpdate(msgspec.Struct, kw_only=True):
    frequency: Frequency
    acknowledge_heavy: bool = False


class SyncRunSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    trigger: str
    counters: dict[str, int]
    created_at: datetime
    finished_at: datetime | None
    error_code: str | None


class Sync(msgspec.Struct, kw_only=True):
    """A catalogue entry with this tenant's schedule, last run and freshness.

    ``description_source`` is ``ponte`` where the seed gave no description and Ponte wrote one.
    """

    key: str
    group: str
    title: str
    description: str
    description_source: str
    direction: str
    mode: str
    heavy: bool
    entity: str
    recommended_schedule: str
    request_kinds: list[str]
    note: str | None
    schedule: SyncSchedule
    freshness: Freshness
    last_run: SyncRunSummary | None
    last_success_at: datetime | None
    running_task_id: uuid.UUID | None
    editions: list[str] = []  # the core-system editions it runs on; empty: every edition
    available: bool = True  # false: it cannot run on this core system (see unavailable_reason)
    unavailable_reason: str | None = None


class SyncCatalogue(msgspec.Struct, kw_only=True):
    items: list[Sync]
    core_system_ready: bool
    core_system_problem: str | None


class SyncRun(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    sync_key: str
    title: str
    group: str
    direction: str
    status: str
    trigger: str
    progress: Progress
    counters: dict[str, int]
    result: dict[str, Any]
    attempt: int
    error_code: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SyncRunPage(msgspec.Struct):
    items: list[SyncRun]
    next_cursor: str | None


class SyncFailureRecord(msgspec.Struct, kw_only=True):
    external_id: str | None
    error: str
    record: dict[str, Any]
    created_at: datetime


class SyncFailurePage(msgspec.Struct):
    items: list[SyncFailureRecord]
    next_cursor: str | None


class SyncRunDetail(SyncRun, kw_only=True):
    failures_total: int
    failures: list[SyncFailureRecord]  # the first 100; page through /failures for the rest


class PortalRequestCreate(msgspec.Struct, kw_only=True):
    kind: RequestKind
    subject_id: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class PortalRequest(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    subject_id: str | None
    payload: dict[str, Any]
    export_status: Literal["pending", "exported", "failed"]
    export_error: str | None
    exported_at: datetime | None
    protocol: str | None
    situation: str | None
    reason: str | None
    situation_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PortalRequestStep(msgspec.Struct, kw_only=True):
    step: str
    at: datetime
    detail: str | None


class PortalRequestDetail(PortalRequest, kw_only=True):
    history: list[PortalRequestStep]


class PortalRequestPage(msgspec.Struct):
    items: list[PortalRequest]
    next_cursor: str | None
