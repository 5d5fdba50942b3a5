"""Insurer imports (seeds 000, 002): connections and their status, a connection's history with
counters, an import's records with the failed ones highlighted and a CSV download, manual
launches with the API's warnings, and policy search with re-import."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Stream, Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.console.pages import Ui, render
from gateway.errors import FieldError, Unprocessable
from gateway.imports import connections, periods, portfolio, service
from gateway.imports.catalogue import INSURERS
from gateway.imports.schemas import ConnectionCreate, ImportCreate, Period
from gateway.pagination import PageParams
from gateway.runtime import Runtime
from gateway.tasks.models import FINISHED, TaskStatus

PAGE = 50
OUTCOMES = ("failed", "created", "updated", "unchanged", "stale_skipped")


class ConnectForm(msgspec.Struct):
    insurer: str = ""
    username: str = ""
    password: str = ""


class LaunchForm(msgspec.Struct):
    mode: str = "period"
    period_from: str = ""
    period_to: str = ""
    policy_number: str = ""


def _day(value: str, pointer: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(
            "Give the period as two dates.", errors=[FieldError(pointer=pointer, detail="a date")]
        ) from exc


def _import_request(form: LaunchForm) -> ImportCreate:
    if form.mode == "policy":
        number = form.policy_number.strip()
        if not number:
            raise Unprocessable(
                "Give the policy number.", errors=[FieldError(pointer="/policy_number", detail="empty")]
            )
        return ImportCreate(policy_number=number)
    return ImportCreate(
        period=Period(from_=_day(form.period_from, "/period/from"), to=_day(form.period_to, "/period/to"))
    )


class ImportPages(Controller):
    path = "/console"

    @get("/imports", name="console:imports")
    async def connections(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, cursor: str | None = None
    ) -> Template:
        rows, next_cursor = await connections.list_connections(
            session, tenant_id, PageParams(limit=PAGE, cursor=cursor)
        )
        last = await service.last_imports(session, tenant_id, [c.id for c in rows])
        return render(
            ui, "imports/connections.html", connections=[connections.to_schema(c) for c in rows],
            last={k: service.to_import_task(t) for k, t in last.items()}, next_cursor=next_cursor, filters={},
            insurers=INSURERS,
        )  # fmt: skip

    @post("/imports/connections")
    async def connect(
        self, ui: Ui, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID,
        data: Annotated[ConnectForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:  # fmt: skip
        """Connect to an insurer with its defaults (daily import at 06:00 in its country's zone);
        options and schedules beyond that are the API's (PATCH /v1/insurer-connections/{id})."""
        raw = {"insurer": data.insurer, "credentials": {"username": data.username, "password": data.password}}
        try:
            create = msgspec.convert(raw, ConnectionCreate)
        except msgspec.ValidationError as exc:
            raise Unprocessable(ui.gettext("Pick an insurer and give its username and password.")) from exc
        connection = await connections.create_connection(session, runtime, tenant_id, create)
        message = ui.gettext("Connected to {insurer}.", insurer=INSURERS[connection.insurer].name)
        response = render(ui, "_flash.html", level="ok", message=message)
        response.headers["HX-Refresh"] = "true"
        return response

    @get("/imports/connections/{connection_id:uuid}")
    async def history(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID,
        status: TaskStatus | None = None, cursor: str | None = None,
    ) -> Template:  # fmt: skip
        connection = await connections.get_connection(session, tenant_id, connection_id)
        rows, next_cursor = await service.list_imports(
            session, tenant_id, connection_id, PageParams(limit=PAGE, cursor=cursor),
            status=status, trigger=None, created_from=None, created_to=None,
        )  # fmt: skip
        return render(
            ui, "imports/history.html", connection=connections.to_schema(connection),
            insurer=INSURERS[connection.insurer], imports=[service.to_import_task(t) for t in rows],
            next_cursor=next_cursor, filters={"status": status} if status else {}, statuses=list(TaskStatus),
            finished=FINISHED, today=periods.today_utc(),  # the API's bound, not the browser's
        )  # fmt: skip

    @post("/imports/connections/{connection_id:uuid}/launch")
    async def launch(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, connection_id: uuid.UUID,
        data: Annotated[LaunchForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:  # fmt: skip
        """The launch's outcome replaces the form's result area: the task, plus the API's
        warnings (windows split, tasks chained forward to today, and why)."""
        launched = await service.launch_import(session, tenant_id, connection_id, _import_request(data))
        return render(ui, "imports/_launched.html", launched=launched, finished=FINISHED)

    @get("/imports/{task_id:uuid}")
    async def detail(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID,
        outcome: str | None = None, cursor: str | None = None,
    ) -> Template:  # fmt: skip
        """Failed records first: with any, the page opens on them (``outcome=all`` shows every one)."""
        task = await service.get_import(session, tenant_id, task_id)
        imp = service.to_import_task(task)
        if outcome is None and (imp.counters.policies.failed or imp.counters.receipts.failed):
            outcome = "failed"
        outcome = outcome if outcome in OUTCOMES else None
        results, next_cursor = await service.list_results(
            session, tenant_id, task_id, PageParams(limit=PAGE, cursor=cursor), outcome
        )
        return render(
            ui, "imports/detail.html", task=task, imp=imp, results=results,
            next_cursor=next_cursor, filters={"outcome": outcome or "all"}, outcomes=OUTCOMES,
            finished=FINISHED,
        )  # fmt: skip

    @get("/imports/{task_id:uuid}/results.csv")
    async def csv(self, session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Stream:
        await service.get_import(session, tenant_id, task_id)
        headers = {"content-disposition": f'attachment; filename="import-{task_id}.csv"'}
        return Stream(service.export_results_csv(runtime, task_id), media_type="text/csv", headers=headers)

    @get("/policies", name="console:policies")
    async def policies(
        self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, insurer: str | None = None,
        q: str | None = None, by: str | None = None, cursor: str | None = None,
    ) -> Template:  # fmt: skip
        """Search by policy number or, when none has it, by the holder's tax id: the two numbers
        people have at hand. Later pages keep to the field the first one matched."""
        term = (q or "").strip()
        page = PageParams(limit=PAGE, cursor=cursor)

        async def search(field: str | None) -> tuple[list[Any], str | None]:
            return await portfolio.search_policies(
                session, tenant_id, page, insurer=insurer or None,
                policy_number=term if field == "policy_number" and term else None,
                holder_tax_id=term if field == "holder_tax_id" and term else None,
            )  # fmt: skip

        by = by if by in ("policy_number", "holder_tax_id") else None
        if term and by is None:
            by = "policy_number"
            rows, next_cursor = await search(by)
            if not rows:
                by = "holder_tax_id"
                rows, next_cursor = await search(by)
        else:
            rows, next_cursor = await search(by)
        filters = {k: v for k, v in {"q": term, "by": by if term else None, "insurer": insurer}.items() if v}
        policies = [portfolio.PolicySummary.from_model(p) for p in rows]
        return render(
            ui, "imports/policies.html", policies=policies, next_cursor=next_cursor, filters=filters,
            insurers=INSURERS,
        )  # fmt: skip

    @get("/policies/{policy_id:uuid}")
    async def policy(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> Template:
        p = await portfolio.get_policy(session, tenant_id, policy_id)
        receipts = await portfolio.receipts_of(session, p)
        return render(ui, "imports/policy.html", policy=portfolio.PolicySummary.from_model(p), receipts=receipts,
                      insurer=INSURERS.get(p.insurer))  # fmt: skip

    @post("/policies/{policy_id:uuid}/reimport")
    async def reimport(self, ui: Ui, session: AsyncSession, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> Template:
        task = await service.reimport_policy(session, tenant_id, policy_id)
        return render(ui, "imports/_reimported.html", imp=task, finished=FINISHED)
