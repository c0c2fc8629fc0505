"""What PayBridge itself has charged against a D365 document, counted before it charges it again.

D365's open amount of an invoice moves only when a payment line is posted and settled, and a
sales order has none: two idempotency keys for one document would each see it fully open. So
every charge reserves its amount against its document before it is planned, in one
compare-and-set on a cursor row (``charges:<company>:<kind>:<number>``): of two charges racing
for the last open amount, one is refused. A reservation counts while its charge is in
progress, in doubt or approved; a declined or released one (nothing charged) no longer does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from paybridge.charging.documents import Document
from paybridge.charging.records import APPROVED, IN_DOUBT, PENDING, ChargeRecords
from paybridge.errors import DataError
from paybridge.model import Money
from paybridge.runtime.cursors import Cursors

# Charge row statuses whose money is (or may be) taken.
LIVE = frozenset({PENDING, IN_DOUBT, APPROVED})


@dataclass(frozen=True)
class Available:
    """The open amount of a document, in D365's eyes and after PayBridge's own charges."""

    d365_open: Decimal
    charged: Decimal  # PayBridge's live charges against it, this key's excluded
    total: Decimal

    @property
    def amount(self) -> Decimal:
        return max(Decimal(0), min(self.d365_open, self.total - self.charged))


class DocumentCharges:
    """Reservations of charge amounts per D365 document."""

    def __init__(self, cursors: Cursors, records: ChargeRecords) -> None:
        self.cursors = cursors
        self.records = records

    @staticmethod
    def name(document: Document) -> str:
        return f"charges:{document.company}:{document.kind}:{document.number}"

    def available(self, document: Document, key: str) -> Available:
        """What may still be charged on ``document`` by ``key``."""
        _, reserved = self._read(document)
        return Available(document.open_amount, self._charged(reserved, key), document.total)

    def reserve(self, document: Document, key: str, amount: Decimal, field: str) -> None:
        """Count ``amount`` for ``key`` against ``document``; DataError when it does not fit."""
        while True:
            raw, reserved = self._read(document)
            open_now = Available(document.open_amount, self._charged(reserved, key), document.total)
            if amount > open_now.amount:
                raise DataError(
                    "amount exceeds what is open",
                    fields={field: _refusal(document, amount, open_now)},
                )
            version = int(str(reserved.get("v", 0))) + 1
            charges = dict(_charges(reserved), **{key: format(amount, "f")})
            new = json.dumps({"v": version, "charges": charges}, sort_keys=True)
            if self.cursors.advance_if(self.name(document), raw, new, missing=""):
                return

    def _read(self, document: Document) -> tuple[str, dict[str, object]]:
        raw = self.cursors.get(self.name(document)) or ""
        return raw, (json.loads(raw) if raw else {})

    def _charged(self, reserved: dict[str, object], key: str) -> Decimal:
        total = Decimal(0)
        for other, amount in _charges(reserved).items():
            if other == key:
                continue
            record = self.records.get(other)
            if record is not None and record.status in LIVE:
                total += Decimal(amount)
        return total


def _charges(reserved: dict[str, object]) -> dict[str, str]:
    charges = reserved.get("charges")
    return {str(k): str(v) for k, v in charges.items()} if isinstance(charges, dict) else {}


def _refusal(document: Document, amount: Decimal, open_now: Available) -> str:
    def money(value: Decimal) -> str:
        return format(Money.of(value, document.currency).rounded().amount, "f")

    return (
        f"{money(amount)} {document.currency} exceeds what is open on "
        f"{document.kind.replace('_', ' ')} {document.number}: {money(open_now.amount)} "
        f"{document.currency} (D365 open {money(open_now.d365_open)}, total "
        f"{money(open_now.total)}, PayBridge's approved, in-doubt and in-progress charges "
        f"{money(open_now.charged)})"
    )
