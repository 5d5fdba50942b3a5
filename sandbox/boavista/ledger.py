"""Boavista's ground truth: the card sales an establishment made, as the acquirers and the ERP see them.

Every sale is a pure function of ``(seed, establishment code, local day, index)``, so any page
of any day is generated on demand and two runs agree. The ERP record of a sale is the acquirer
record with, for a small share of sales, one realistic divergence planted in it.

Acquirer data is deliberately non-unique the way real data is: the NSU is a per-terminal daily
sequence (``000001`` exists on every terminal every day) and authorization codes come from a
small space, so only ``acquirer_sale_id`` (or NSU + authorization + terminal + day) identifies
a sale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import msgspec

ACQUIRERS = ("cielo", "rede", "stone", "getnet", "pagseguro", "safrapay")
CARD_BRANDS = ("visa", "mastercard", "elo", "visa", "mastercard", "amex", "hipercard", "elo")
DEBIT_BRANDS = ("visa", "mastercard", "elo")
VOUCHER_BRANDS = ("alelo", "ticket", "vr", "pluxee")
DIVERGENCES = ("authorization", "installments", "amount", "not_found", "duplicate", "nsu")
OPEN_SECONDS = 7 * 3600  # pharmacies sell from 07:00 to 23:00 local time
OPEN_SPAN = 16 * 3600
REPROCESSED_NSU_BASE = 800_000  # acquirers renumber reprocessed sales out of the daily sequence


class LedgerConfig(msgspec.Struct, frozen=True):
    seed: int = 4
    sales_per_day: int = 50
    today: date | None = None  # None: the real current day in ``timezone``
    timezone: str = "America/Sao_Paulo"
    divergence_rate: float = 0.02
    # A not_found sale is one the acquirers have not reported: never (None), or this many days
    # after the sale, as acquirers that report late do.
    not_found_reported_after_days: int | None = None

    def current_day(self) -> date:
        return self.today or datetime.now(ZoneInfo(self.timezone)).date()


class Sale(msgspec.Struct, frozen=True):
    """One sale as the acquirer registered it, plus the divergence planted in the ERP copy."""

    index: int
    day: date
    acquirer_sale_id: str
    sold_at: str  # UTC, ISO 8601
    gross_amount_cents: int
    installments: int
    brand: str
    payment_type: str
    nsu: str
    authorization_code: str
    terminal_id: str
    acquirer: str
    divergence: str | None
    # "invoice_payment": a receivable that is not a sale (a customer paying a store-card invoice
    # by card); acquirers report it like a sale, and the ERP posts it with its kind.
    kind: str = "sale"


def _digest(*parts: object) -> int:
    key = ":".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big")


@lru_cache(maxsize=1024)
def terminals_of(seed: int, code: str) -> tuple[tuple[str, str], ...]:
    """(terminal id, acquirer) pairs of an establishment: 2 to 7 POS terminals, each with one acquirer."""
    h = _digest(seed, code, "terminals")
    count = 2 + h % 6
    prefix = 10_000 + (h >> 8) % 90_000
    return tuple((f"{prefix}{t:03d}", ACQUIRERS[((h >> 32) + t) % len(ACQUIRERS)]) for t in range(count))


def day_start_utc(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


class _Day(msgspec.Struct, frozen=True):
    """What every sale of one establishment-day shares, computed once (generation is the hot path)."""

    terminals: tuple[tuple[str, str], ...]
    tag: str  # yymmdd, part of acquirer sale ids
    utc_dates: tuple[str, str]  # the UTC date the local day starts on, and the next one
    start_second: int  # second of the UTC day at which the local day starts


@lru_cache(maxsize=256)
def _day(seed: int, code: str, day: date, timezone: str) -> _Day:
    start = day_start_utc(day, timezone)
    return _Day(
        terminals=terminals_of(seed, code),
        tag=f"{day:%y%m%d}",
        utc_dates=(f"{start:%Y-%m-%d}", f"{start + timedelta(days=1):%Y-%m-%d}"),
        start_second=start.hour * 3600 + start.minute * 60 + start.second,
    )


def _card(h: int) -> tuple[str, str, int]:
    """Payment type, brand and installments with a pharmacy's mix (mostly credit and debit)."""
    roll = h % 100
    if roll < 55:
        installments = 1 if (h >> 7) % 5 else 2 + (h >> 10) % 5
        return "credit", CARD_BRANDS[(h >> 13) % len(CARD_BRANDS)], installments
    if roll < 88:
        return "debit", DEBIT_BRANDS[(h >> 13) % len(DEBIT_BRANDS)], 1
    if roll < 94:
        return "voucher", VOUCHER_BRANDS[(h >> 13) % len(VOUCHER_BRANDS)], 1
    return "digital_wallet", DEBIT_BRANDS[(h >> 13) % len(DEBIT_BRANDS)], 1


def sale_at(cfg: LedgerConfig, code: str, day: date, index: int) -> Sale:
    """The ``index``-th sale of ``day`` (indices follow the clock, so a day's sales come out sorted)."""
    h = _digest(cfg.seed, code, day.toordinal(), index)
    shared = _day(cfg.seed, code, day, cfg.timezone)
    terminals = shared.terminals
    terminal_id, acquirer = terminals[index % len(terminals)]
    offset = OPEN_SECONDS + int((index + ((h >> 20) % 1000) / 1000) * OPEN_SPAN / max(cfg.sales_per_day, 1))
    second = shared.start_second + offset
    utc_date = shared.utc_dates[second // 86_400]
    second %= 86_400
    payment_type, brand, installments = _card(h >> 30)
    base = (h >> 50) % 10_000
    divergence = None
    if (h >> 70) % 100_000 < cfg.divergence_rate * 100_000:
        divergence = DIVERGENCES[(h >> 90) % len(DIVERGENCES)]
        if divergence == "installments" and payment_type != "credit":
            payment_type, brand = "credit", CARD_BRANDS[(h >> 13) % len(CARD_BRANDS)]
    return Sale(
        index=index,
        day=day,
        acquirer_sale_id=f"{acquirer[:3].upper()}{shared.tag}{h % 10**10:010d}",
        sold_at=f"{utc_date}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z",
        gross_amount_cents=290 + base * base // 2_000,
        installments=installments,
        brand=brand,
        payment_type=payment_type,
        nsu=f"{index // len(terminals) + 1:06d}",
        authorization_code=f"{(h >> 100) % 200_000:06d}",
        terminal_id=terminal_id,
        acquirer=acquirer,
        divergence=divergence,
        kind="invoice_payment" if (h >> 118) % 12 == 0 else "sale",  # bits no other field uses
    )


def sales_of_day(cfg: LedgerConfig, code: str, day: date, first: int = 0) -> Iterator[Sale]:
    if day > cfg.current_day():
        return
    for index in range(first, cfg.sales_per_day):
        yield sale_at(cfg, code, day, index)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def reported(cfg: LedgerConfig, sale: Sale) -> bool:
    """Whether the acquirers have reported the sale by the current day."""
    if sale.divergence != "not_found":
        return True
    late = cfg.not_found_reported_after_days
    return late is not None and cfg.current_day() >= sale.day + timedelta(days=late)


def acquirer_records(cfg: LedgerConfig, sale: Sale) -> list[dict[str, object]]:
    """What the acquirers report for a sale: nothing (yet), one record, or a duplicate pair."""
    if not reported(cfg, sale):
        return []
    record: dict[str, object] = {
        "acquirer_sale_id": sale.acquirer_sale_id,
        "sold_at": sale.sold_at,
        "gross_amount_cents": sale.gross_amount_cents,
        "currency": "BRL",
        "installments": sale.installments,
        "brand": sale.brand,
        "payment_type": sale.payment_type,
        "nsu": sale.nsu,
        "authorization_code": sale.authorization_code,
        "terminal_id": sale.terminal_id,
        "acquirer": sale.acquirer,
        "kind": sale.kind,
    }
    if sale.divergence == "nsu":
        record["nsu"] = f"{REPROCESSED_NSU_BASE + int(sale.nsu):06d}"
    if sale.divergence == "duplicate":
        # The acquirer sent the same sale twice under two ids; everything else is identical.
        return [record, {**record, "acquirer_sale_id": sale.acquirer_sale_id[:-1] + "D"}]
    return [record]


def _typo(digits: str) -> str:
    """A mistyped authorization code: two adjacent characters swapped, or the last one bumped."""
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1]:
            return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
    return digits[:-1] + str((int(digits[-1]) + 1) % 10)


def erp_record(code: str, sale: Sale, *, corrected: bool = False) -> dict[str, object]:
    """The pharmacy ERP's copy of a sale; ``corrected`` is the copy after a person fixed it."""
    record: dict[str, object] = {
        "sale_id": f"VF{code}-{sale.day:%Y%m%d}-{sale.index:06d}",
        "sold_at": sale.sold_at,
        "gross_amount_cents": sale.gross_amount_cents,
        "installments": sale.installments,
        "brand": sale.brand,
        "payment_type": sale.payment_type,
        "nsu": sale.nsu,
        "authorization_code": sale.authorization_code,
        "terminal_id": sale.terminal_id,
    }
    if sale.kind != "sale":
        record["kind"] = sale.kind
    if corrected:
        if sale.divergence == "nsu":
            record["nsu"] = f"{REPROCESSED_NSU_BASE + int(sale.nsu):06d}"
        return record
    if sale.divergence == "authorization":
        record["authorization_code"] = _typo(sale.authorization_code)
    elif sale.divergence == "installments":
        record["installments"] = 1 if sale.installments > 1 else 3
    elif sale.divergence == "amount":
        delta = 1 + sale.index % 450  # a typo or a forgotten discount, never zero
        record["gross_amount_cents"] = sale.gross_amount_cents + (delta if sale.index % 2 else -min(delta, 100))
    return record
