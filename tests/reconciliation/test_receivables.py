"""Receivables that are not sales (payments of credit invoices): their own kind, matched by the
same tiers, reported apart in the summary (seed 004, issue 15 item 11)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from gateway.reconciliation import matcher
from tests.reconciliation.support import at_local, today_local
from tests.reconciliation.test_matcher import pairs

TODAY = today_local()
DAYS = [TODAY - timedelta(days=n) for n in (3, 2, 1)]


async def test_invoice_payments_are_matched_like_sales_and_summed_apart(client, runtime, boavista, worker) -> None:
    await boavista.enable()
    kinds: dict[str, str] = {}
    planted: dict[str, str] = {}
    for day in DAYS:
        erp = await boavista.erp_day(day)
        r = await boavista.post_sales(erp["items"])
        assert r.status_code == 200, r.text
        kinds.update({i["sale_id"]: i.get("kind", "sale") for i in erp["items"]})
        planted.update(erp["divergences"])
    payments = {s for s, k in kinds.items() if k == "invoice_payment"}
    assert payments and len(payments) < len(kinds)
    stored = await boavista.sales()
    assert {s for s, row in stored.items() if row.kind == "invoice_payment"} == payments
    detail = await client.get(f"/v1/reconciliation/sales/{next(iter(payments))}", headers=boavista.tenant.headers)
    assert detail.json()["kind"] == "invoice_payment"

    await boavista.run(at_local(TODAY, 12), worker)  # fetch, match (the same tiers), remit
    found = await pairs(runtime, boavista.tenant.tenant_id)
    clean = [s for s in payments if s not in planted]
    assert clean
    for sale_id in clean:
        assert found.get(sale_id) == [(2, matcher.TIER2_RULE, ())], sale_id

    # The summary counts the day's sales and, apart, its invoice payments.
    day = next(d for d in DAYS if any(stored[s].local_day == d for s in payments))
    of_day = [row for row in stored.values() if row.local_day == day]
    r = await client.get(f"/v1/reconciliation/summary?day={day}", headers=boavista.tenant.headers)
    body = r.json()
    sales_total = sum(s["count"] for s in body["by_status"])
    assert sales_total == sum(1 for row in of_day if row.kind == "sale")
    [receivables] = body["receivables"]
    assert receivables["kind"] == "invoice_payment"
    assert sum(s["count"] for s in receivables["by_status"]) == sum(1 for row in of_day if row.kind != "sale")
    assert sum(s["amount_cents"] for s in receivables["by_status"]) == sum(
        row.gross_amount_cents for row in of_day if row.kind != "sale"
    )
    exported = list(csv.DictReader(io.StringIO(
        (await client.get(f"/v1/reconciliation/summary.csv?day={day}", headers=boavista.tenant.headers)).text
    )))  # fmt: skip
    counted = {k: sum(int(x["count"]) for x in exported if x["kind"] == k and x["section"] == "status")
               for k in ("sale", "invoice_payment")}  # fmt: skip
    assert counted == {"sale": sales_total, "invoice_payment": len([r for r in of_day if r.kind != "sale"])}


async def test_a_sale_without_a_kind_is_a_sale_and_unknown_kinds_are_rejected(client, boavista) -> None:
    from tests.reconciliation.test_intake import sale

    r = await boavista.post_sales([sale(1), sale(2, kind="invoice_payment"), sale(3, kind="gift")])
    assert r.status_code == 207
    assert [a["sale_id"] for a in r.json()["accepted"]] == ["S-1", "S-2"]
    assert r.json()["rejected"][0]["errors"][0]["pointer"] == "/items/2/kind"
    stored = await boavista.sales()
    assert (stored["S-1"].kind, stored["S-2"].kind) == ("sale", "invoice_payment")
    again = await boavista.post_sales([sale(2, kind="invoice_payment")])
    assert again.json()["accepted"][0]["outcome"] == "unchanged"
