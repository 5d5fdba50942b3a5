"""CSV exports of the divergence queue and the daily summary (seed 004, issue 15 item 12)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import update

from gateway.reconciliation.models import CardSale
from tests.reconciliation.support import today_local
from tests.reconciliation.test_intake import sale

YESTERDAY = today_local() - timedelta(days=1)


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def plant_queue(boavista, runtime) -> None:  # type: ignore[no-untyped-def]
    r = await boavista.post_sales([sale(n, gross_amount_cents=1000 * n) for n in range(1, 7)])
    assert r.status_code == 200, r.text
    verdicts = {"S-1": ("divergent", "amount"), "S-4": ("divergent", "nsu"), "S-5": ("expired", None)}
    async with runtime.db.unit_of_work(runtime.queue) as session:
        for sale_id, (status, reason) in verdicts.items():
            await session.execute(
                update(CardSale)
                .where(CardSale.tenant_id == boavista.tenant.tenant_id, CardSale.sale_id == sale_id)
                .values(status=status, reason=reason, reason_detail="planted" if reason else None)
            )


async def test_divergence_queue_exports_as_csv_in_the_queue_order(client, runtime, boavista, tenants) -> None:
    await plant_queue(boavista, runtime)
    headers = boavista.tenant.headers
    r = await client.get("/v1/reconciliation/divergences.csv", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="divergences.csv"' in r.headers["content-disposition"]
    rows = parse(r.text)
    queue = (await client.get("/v1/reconciliation/divergences", headers=headers)).json()["items"]
    assert [row["sale_id"] for row in rows] == [s["sale_id"] for s in queue] == ["S-5", "S-4", "S-1"]
    assert rows[1]["reason"] == "nsu" and rows[1]["gross_amount_cents"] == "4000" and rows[1]["status"] == "divergent"
    assert rows[0]["reason"] == "" and rows[0]["status"] == "expired"

    # The filters of the JSON queue apply; another tenant exports an empty queue, header only.
    only = parse((await client.get("/v1/reconciliation/divergences.csv?status=divergent", headers=headers)).text)
    assert [row["sale_id"] for row in only] == ["S-4", "S-1"]
    other = await tenants.create()
    empty = await client.get("/v1/reconciliation/divergences.csv", headers=other.headers)
    assert empty.status_code == 200 and parse(empty.text) == [] and empty.text.startswith("sale_id,")


async def test_daily_summary_exports_as_csv(client, runtime, boavista) -> None:
    await plant_queue(boavista, runtime)
    headers = boavista.tenant.headers
    day = YESTERDAY.isoformat()
    summary = (await client.get(f"/v1/reconciliation/summary?day={day}", headers=headers)).json()
    r = await client.get(f"/v1/reconciliation/summary.csv?day={day}", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = parse(r.text)
    statuses = {row["key"]: (int(row["count"]), int(row["amount_cents"])) for row in rows if row["section"] == "status"}
    assert statuses == {s["status"]: (s["count"], s["amount_cents"]) for s in summary["by_status"]}
    assert statuses["divergent"] == (2, 5000) and statuses["pending"] == (3, 2000 + 3000 + 6000)
    reasons = {row["key"]: int(row["amount_cents"]) for row in rows if row["section"] == "divergence_reason"}
    assert reasons == {"amount": 1000, "nsu": 4000}
    assert {row["day"] for row in rows} == {day}
    assert (await client.get("/v1/reconciliation/summary.csv", headers=headers)).status_code == 400
