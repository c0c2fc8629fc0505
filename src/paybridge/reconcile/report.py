"""The reconciliation report as data: per-batch summary, every exception with both sides, actions.

Built from the matcher's result and what the loaders kept; rendered by ``paybridge.reconcile.render``
(HTML, XLSX, CSV) and serialised by ``to_json`` for machines. Amounts are ``Money`` (Decimal with
a currency); times aware UTC; formatting for people happens in the renderers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from paybridge.model import Money
from paybridge.reconcile.heal import HealAction
from paybridge.reconcile.journal import JournalOutcome
from paybridge.reconcile.matcher import MatchClass

CLASS_TITLES: dict[MatchClass, str] = {
    MatchClass.MATCHED: "Matched",
    MatchClass.MISSING_IN_D365: "Missing in D365",
    MatchClass.NOT_IN_PAYTRACE: "In D365 but not in PayTrace",
    MatchClass.AMOUNT_MISMATCH: "Amount, currency or sign mismatch",
    MatchClass.WRONG_PARTY: "Wrong customer or invoice",
    MatchClass.DUPLICATED_IN_D365: "Duplicated in D365",
    MatchClass.UNPOSTED_IN_D365: "Settled in PayTrace, unposted in D365",
}


@dataclass(frozen=True)
class PayTraceRecord:
    transaction_id: str
    kind: str
    amount: Money
    customer_id: str
    invoice_id: str
    batch: int
    card: str = ""
    created_at: datetime | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class D365Record:
    company: str
    journal: str
    line_number: Decimal
    payment_id: str
    payment_reference: str
    account: str
    credit: Money
    debit: Money
    marked_invoice: str = ""
    posted: bool = False
    transaction_date: date | None = None
    voucher: str = ""


@dataclass(frozen=True)
class ExceptionEntry:
    match_class: MatchClass
    reason: str
    transaction_id: str
    paytrace: PayTraceRecord | None
    d365: tuple[D365Record, ...]
    detail: str
    action: str
    heal: HealAction | None = None


@dataclass(frozen=True)
class BatchSummary:
    batch: int
    currency: str
    settled_at: datetime | None
    pt_count: int
    pt_sales: Money
    pt_refunds: Money
    pt_net: Money
    d365_count: int
    d365_credits: Money
    d365_debits: Money
    d365_net: Money
    difference: Money
    problems: tuple[str, ...] = ()
    journal: JournalOutcome | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class SkippedEntry:
    transaction_id: str
    lines: int
    reason: str


@dataclass(frozen=True)
class ReconciliationReport:
    company: str
    day: date
    run_id: str
    generated_at: datetime
    currency: str
    timezone: str
    date_format: str
    counts: dict[MatchClass, int]
    batches: tuple[BatchSummary, ...]
    exceptions: tuple[ExceptionEntry, ...]
    skipped: tuple[SkippedEntry, ...] = ()
    heals: tuple[HealAction, ...] = ()
    journals: tuple[JournalOutcome, ...] = ()
    heal_requested: bool = False
    journal_requested: bool = False
    notes: tuple[str, ...] = ()
    # Steps that failed (e.g. a settlement journal D365 refused): the run is an error, exit 2.
    errors: tuple[str, ...] = ()

    @property
    def differences(self) -> bool:
        return bool(self.exceptions) or not all(b.ok for b in self.batches)

    @property
    def exit_code(self) -> int:
        """0 when everything matches, 1 when there are differences, 2 when a step failed."""
        if self.errors:
            return 2
        return 1 if self.differences else 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: amounts as exact decimal strings with their currency."""
        return {
            "company": self.company,
            "day": self.day.isoformat(),
            "run_id": self.run_id,
            "generated_at": self.generated_at.isoformat(),
            "currency": self.currency,
            "all_matched": not self.differences,
            "counts": {cls.name.lower(): self.counts.get(cls, 0) for cls in MatchClass},
            "batches": [{**_jsonable(b), "ok": b.ok} for b in self.batches],
            "exceptions": [_jsonable(e) for e in self.exceptions],
            "skipped": [_jsonable(s) for s in self.skipped],
            "heal": {
                "requested": self.heal_requested,
                "actions": [_jsonable(h) for h in self.heals],
            },
            "settlement_journals": [_jsonable(j) for j in self.journals],
            "settlement_journal_requested": self.journal_requested,
            "notes": list(self.notes),
            "errors": list(self.errors),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": format(value.rounded().amount, "f"), "currency": value.currency}
    if isinstance(value, MatchClass):
        return value.name.lower()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value
