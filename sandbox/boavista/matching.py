"""How Boavista reconciles an ERP sale against what the acquirers reported.

Matching works on the data, never on the ERP's sale id, the way a real integrator must: the
sale's local day and terminal narrow the search, then NSU finds the acquirer record and the
other fields are compared. When the NSU finds nothing, authorization code + amount on the same
terminal catches sales the acquirer reprocessed under a new NSU.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import msgspec

from sandbox.boavista.ledger import LedgerConfig, acquirer_records, sales_of_day


class ErpSale(msgspec.Struct, frozen=True):
    """One item of a remittance, in the ERP's shape. Unknown fields are ignored."""

    sale_id: str
    sold_at: datetime
    gross_amount_cents: int
    installments: int
    brand: str
    payment_type: str
    nsu: str
    authorization_code: str
    terminal_id: str


Record = dict[str, object]


class DayIndex:
    """The acquirer records of one establishment-day, keyed the two ways matching looks them up."""

    def __init__(self, records: list[Record]) -> None:
        self.by_nsu: dict[tuple[object, object], list[Record]] = defaultdict(list)
        self.by_authorization: dict[tuple[object, object, object], list[Record]] = defaultdict(list)
        for record in records:
            self.by_nsu[record["terminal_id"], record["nsu"]].append(record)
            key = (record["terminal_id"], record["authorization_code"], record["gross_amount_cents"])
            self.by_authorization[key].append(record)


@lru_cache(maxsize=4)
def day_index(cfg: LedgerConfig, code: str, day: date) -> DayIndex:
    # Cached because a remittance carries many sales of the same few days.
    return DayIndex([record for sale in sales_of_day(cfg, code, day) for record in acquirer_records(cfg, sale)])


def _item(sale: ErpSale, reason: str | None, record: Record | None, detail: str) -> dict[str, object]:
    return {
        "sale_id": sale.sale_id,
        "status": "matched" if reason is None else "divergent",
        "reason": reason,
        "acquirer_sale_id": record["acquirer_sale_id"] if record else None,
        "detail": detail,
    }


def reconcile(cfg: LedgerConfig, code: str, sale: ErpSale) -> dict[str, object]:
    """One return item: matched, or divergent with the first reason found and a human detail."""
    day = sale.sold_at.astimezone(ZoneInfo(cfg.timezone)).date()
    index = day_index(cfg, code, day)
    same_nsu = index.by_nsu.get((sale.terminal_id, sale.nsu), [])
    identical = [
        r
        for r in same_nsu
        if r["authorization_code"] == sale.authorization_code
        and r["gross_amount_cents"] == sale.gross_amount_cents
        and r["installments"] == sale.installments
    ]
    if len(identical) > 1:
        ids = ", ".join(str(r["acquirer_sale_id"]) for r in identical)
        return _item(sale, "duplicate", identical[0], f"acquirer reported this sale {len(identical)} times: {ids}")
    if identical:
        return _item(sale, None, identical[0], "matched on terminal, NSU, authorization, amount and installments")
    if same_nsu:
        record = same_nsu[0]
        if record["authorization_code"] != sale.authorization_code:
            detail = f"authorization {sale.authorization_code}, acquirer registered {record['authorization_code']}"
            return _item(sale, "authorization", record, detail)
        if record["installments"] != sale.installments:
            detail = f"{sale.installments} installments, acquirer registered {record['installments']}"
            return _item(sale, "installments", record, detail)
        detail = f"amount {sale.gross_amount_cents} cents, acquirer registered {record['gross_amount_cents']}"
        return _item(sale, "amount", record, detail)
    reprocessed = index.by_authorization.get((sale.terminal_id, sale.authorization_code, sale.gross_amount_cents))
    if reprocessed:
        record = reprocessed[0]
        detail = f"NSU {sale.nsu} not found; acquirer reprocessed the sale as NSU {record['nsu']}"
        return _item(sale, "nsu", record, detail)
    detail = f"no acquirer sale on terminal {sale.terminal_id} on {day.isoformat()} with NSU {sale.nsu}"
    return _item(sale, "not_found", None, detail)
