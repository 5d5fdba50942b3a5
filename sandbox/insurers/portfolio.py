"""Deterministic insurer portfolios, generated lazily one policy at a time.

A portfolio belongs to (insurer, account, options) and holds ``size`` policies numbered by
index. Everything about policy ``i`` derives from ``mix(seed ^ i)``, so any page, any single
policy and any date can be computed without building the rest:

* a policy is issued between 2019 and 2024 and renews every 365 days; the premium changes at
  each renewal; about 1 in 12 policies is cancelled some years after issue;
* each term has 1, 2, 4 or 12 receipts; a receipt is issued (``pending``) at its slot, is due
  30 days later and settles 0-25 days after that as ``paid`` (or 1 in 25 ``returned``); a
  receipt still open when its policy is cancelled becomes ``cancelled``;
* a policy "changed" on a day when a receipt was issued or settled or the policy was cancelled;
* about 1 in 500 policies is a bad record: no policy number, or an impossible start date.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, NamedTuple

from sandbox.insurers.catalogue import Source

M64 = (1 << 64) - 1
EPOCH = date(2019, 1, 1).toordinal()
ISSUE_SPAN_DAYS = 6 * 365
YEAR = 365
DUE_AFTER_DAYS = 30
MAX_SETTLE_LAG = 25

PT_FIRST = ("Ana", "João", "Maria", "Pedro", "Rita", "Tiago", "Inês", "Miguel", "Sofia", "Rui", "Beatriz", "Nuno")
PT_LAST = ("Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Sousa", "Gonçalves")
PL_FIRST = ("Anna", "Piotr", "Katarzyna", "Krzysztof", "Małgorzata", "Tomasz", "Agnieszka", "Paweł", "Joanna", "Michał")
PL_LAST = ("Nowak", "Wójcik", "Kowalczyk", "Woźniak", "Mazur", "Krawczyk", "Kaczmarek", "Zając", "Król", "Wróbel")
PRODUCTS = {
    "pt": ("Automóvel", "Multirriscos Habitação", "Saúde", "Acidentes de Trabalho", "Responsabilidade Civil"),
    "pt-life": ("Vida Risco", "Vida Poupança", "PPR"),
    "pl": ("OC komunikacyjne", "AC komunikacyjne", "Mieszkanie", "NNW", "OC działalności"),
    "pl-motor": ("OC komunikacyjne", "AC komunikacyjne", "Assistance"),
    "pl-life": ("Życie", "Życie i zdrowie", "Życie z funduszem"),
}


def mix(x: int) -> int:
    """splitmix64: cheap, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


class Skeleton(NamedTuple):
    """What the change predicate needs: cheap to compute for every index while scanning."""

    serial: int
    h: int
    issue: int  # date ordinal
    installments: int
    cancel: int | None  # date ordinal


def iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


class Portfolio:
    def __init__(self, source: Source, account: str, options: dict[str, str], size: int, receipts: int) -> None:
        key = "|".join([source.code, account, *(f"{k}={v}" for k, v in sorted(options.items()))])
        self.seed = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
        self.source = source
        self.size = size
        self.receipts_per_policy = receipts
        brand = options.get("brand", "")
        self.prefix = brand.upper() if brand in ("mtu", "ycd") else source.prefix
        self.account = f"{self.seed % 1000:03d}"
        self.products = PRODUCTS[self._product_line(source, options)]

    @staticmethod
    def _product_line(source: Source, options: dict[str, str]) -> str:
        if source.country == "pt":
            return "pt-life" if source.code.endswith("-vida") else "pt"
        if source.code in ("insly", "asf-premium"):
            return "pl-motor"
        return "pl-life" if options.get("product") == "life" else "pl"

    def number(self, index: int) -> str:
        return f"{self.prefix}-{self.account}-{index:07d}"

    def index_of(self, number: str) -> int | None:
        head, _, tail = number.rpartition("-")
        if head != f"{self.prefix}-{self.account}" or not tail.isdigit():
            return None
        index = int(tail)
        return index if index < self.size else None

    def skeleton(self, index: int) -> Skeleton:
        h = mix(self.seed ^ index)
        issue = EPOCH + h % ISSUE_SPAN_DAYS
        installments = (1, 2, 4, 12)[(h >> 12) & 3]
        cancel = None
        if (h >> 32) % 12 == 0:
            cancel = issue + YEAR * (1 + (h >> 20) % 8) + (h >> 24) % 300
        return Skeleton(index, h, issue, installments, cancel)

    def _settle(self, sk: Skeleton, term: int, slot: int, issued: int) -> tuple[int, str]:
        rh = mix(sk.h ^ ((term << 8) | slot) + 1)
        settle, outcome = issued + DUE_AFTER_DAYS + rh % (MAX_SETTLE_LAG + 1), "paid"
        if (rh >> 8) % 25 == 0:
            outcome = "returned"
        if sk.cancel is not None and sk.cancel < settle:
            return sk.cancel, "cancelled"
        return settle, outcome

    def changed_between(self, sk: Skeleton, first: int, last: int) -> bool:
        """Whether anything about the policy changed on a day in [first, last] (ordinals)."""
        if last < sk.issue:
            return False
        if sk.cancel is not None:
            if first <= sk.cancel <= last:
                return True
            last = min(last, sk.cancel)  # nothing new is issued after cancellation
        period = YEAR // sk.installments
        earliest = first - DUE_AFTER_DAYS - MAX_SETTLE_LAG  # oldest receipt that may settle in range
        for term in range(max(0, (earliest - sk.issue) // YEAR), (last - sk.issue) // YEAR + 1):
            start = sk.issue + term * YEAR
            lo = max(0, -(-(earliest - start) // period))
            for slot in range(lo, min(sk.installments - 1, (last - start) // period) + 1):
                issued = start + slot * period
                if first <= issued <= last:
                    return True
                settle, _ = self._settle(sk, term, slot, issued)
                if first <= settle <= last:
                    return True
        return False

    def page(self, start: int, first: int, last: int, limit: int) -> tuple[list[Skeleton], int | None]:
        """Policies changed in [first, last] from index ``start`` on; the next start or None.

        Scans at most a bounded number of indexes per call, so a quiet window answers with a
        short (even empty) page and a cursor rather than one slow response.
        """
        found: list[Skeleton] = []
        index, stop = start, min(self.size, start + max(limit * 40, 20_000))
        while index < stop and len(found) < limit:
            sk = self.skeleton(index)
            if self.changed_between(sk, first, last):
                found.append(sk)
            index += 1
        return found, (index if index < self.size else None)

    def premium(self, sk: Skeleton, term: int) -> int:
        base = 5_000 + sk.h % 150_000
        return base * (100 + 3 * term + ((sk.h >> (term % 8 * 4)) & 7) - 3) // 100

    def record(self, sk: Skeleton, day: int, as_of: str) -> dict[str, Any]:
        """The policy as it stood at the end of ``day`` (an ordinal), tagged with ``as_of``."""
        h, period = sk.h, YEAR // sk.installments
        cancelled = sk.cancel is not None and sk.cancel <= day
        alive = sk.cancel if cancelled and sk.cancel is not None else day
        term = (alive - sk.issue) // YEAR
        slot = min(((alive - sk.issue) % YEAR) // period, sk.installments - 1)
        term_start = sk.issue + term * YEAR
        receipts: list[dict[str, Any]] = []
        updated = term_start
        t, s = term, slot
        while t >= 0 and len(receipts) < self.receipts_per_policy:
            issued = sk.issue + t * YEAR + s * period
            settle, outcome = self._settle(sk, t, s, issued)
            settled = settle <= day
            updated = max(updated, settle if settled else issued)
            premium = self.premium(sk, t)
            amount = premium // sk.installments + (premium % sk.installments if s == 0 else 0)
            receipts.append(
                {
                    "receipt_number": f"{self.prefix}R{self.account}{sk.serial:07d}{t:02d}{s:02d}",
                    "due_date": iso(issued + DUE_AFTER_DAYS),
                    "amount_cents": amount,
                    "status": outcome if settled else "pending",
                    "status_changed_on": iso(settle if settled else issued),
                }
            )
            t, s = (t, s - 1) if s > 0 else (t - 1, sk.installments - 1)
        receipts.reverse()
        if cancelled and sk.cancel is not None:
            updated = max(updated, sk.cancel)
        bad = (h >> 50) % 500 == 0
        start_date = iso(term_start)
        if bad and (h >> 45) & 1:
            start_date = f"{date.fromordinal(term_start).year}-02-30"  # an impossible date, as sent
        first, last = self._holder_name(h)
        tax_id, tax_id_type = self._tax_id(h)
        return {
            "policy_number": None if bad and not (h >> 45) & 1 else self.number(sk.serial),
            "insurer": self.source.code,
            "product": self.products[(h >> 8) % len(self.products)],
            "status": "cancelled" if cancelled else "active",
            "holder_name": f"{first} {last}",
            "holder_tax_id": tax_id,
            "holder_tax_id_type": tax_id_type,
            "start_date": start_date,
            "end_date": iso(alive if cancelled else term_start + YEAR - 1),
            "premium_cents": self.premium(sk, term),
            "currency": self.source.currency,
            "updated_on": iso(updated),
            "as_of": as_of,
            "receipts": receipts,
        }

    def _holder_name(self, h: int) -> tuple[str, str]:
        first, last = (PT_FIRST, PT_LAST) if self.source.country == "pt" else (PL_FIRST, PL_LAST)
        return first[(h >> 16) % len(first)], last[(h >> 28) % len(last)]

    def _tax_id(self, h: int) -> tuple[str, str]:
        digits = [int(c) for c in f"{(h >> 3) % 10**10:010d}"]
        if self.source.country == "pt":  # NIF: 1 or 2 for people, mod-11 check digit
            body = [1 + digits[0] % 2, *digits[1:8]]
            check = 11 - sum(d * (9 - i) for i, d in enumerate(body)) % 11
            return "".join(map(str, [*body, 0 if check >= 10 else check])), "NIF"
        if (h >> 40) % 8 == 0:  # a company: NIP, mod-11 with weights 6,5,7,2,3,4,5,6,7
            body = [1 + digits[0] % 9, *digits[1:9]]
            while (check := sum(d * w for d, w in zip(body, (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=True)) % 11) == 10:
                body[8] = (body[8] + 1) % 10  # 10 is no digit: real NIPs skip such bodies
            return "".join(map(str, [*body, check])), "NIP"
        yy, mm, dd = 50 + (h >> 5) % 50, 1 + (h >> 11) % 12, 1 + (h >> 17) % 28
        body = [int(c) for c in f"{yy:02d}{mm:02d}{dd:02d}{(h >> 23) % 10000:04d}"]
        check = (10 - sum(d * w for d, w in zip(body, (1, 3, 7, 9, 1, 3, 7, 9, 1, 3), strict=True)) % 10) % 10
        return "".join(map(str, [*body, check])), "PESEL"
