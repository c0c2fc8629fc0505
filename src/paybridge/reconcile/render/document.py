"""The reconciliation report as one neutral document (titled tables of typed cells).

HTML, XLSX and CSV all render this one document, so they carry the same content; only the
formatting of a cell differs (text for HTML/CSV, typed cells with number formats for XLSX) and
the layout: the HTML page shows a table's ``brief`` columns and folds the rest of each row into a
collapsible detail, the workbook and the CSV files keep every column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from paybridge.model import Money, currency_exponent
from paybridge.reconcile.load_paytrace import ACH_BATCH
from paybridge.reconcile.matcher import MatchClass
from paybridge.reconcile.report import (
    CLASS_TITLES,
    D365Record,
    ExceptionEntry,
    ReconciliationReport,
)


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str

    @property
    def places(self) -> int:
        return currency_exponent(self.currency)


Cell = str | int | Amount | date | datetime | None


@dataclass(frozen=True)
class Table:
    """``brief``: the columns the HTML page shows (all when empty); ``totals``: columns summed."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    key: str = ""
    brief: tuple[str, ...] = ()
    totals: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.brief + self.totals) - set(self.columns))
        if unknown:
            raise ValueError(f"table {self.title!r} has no columns {unknown}")

    @property
    def name(self) -> str:
        """A file-name-safe name (``exceptions``, ``settlement_journals``)."""
        return self.key or re.sub(r"[^a-z0-9]+", "_", self.title.lower()).strip("_")

    @property
    def detail_columns(self) -> tuple[str, ...]:
        """The columns the HTML page folds into each row's detail."""
        return tuple(c for c in self.columns if self.brief and c not in self.brief)

    def total(self, column: str) -> Cell:
        """The sum of a ``totals`` column: an Amount (one currency only) or an int; else None."""
        index = self.columns.index(column)
        values = [row[index] for row in self.rows if row[index] is not None]
        amounts = [v for v in values if isinstance(v, Amount)]
        if amounts and len(amounts) == len(values):
            currencies = {a.currency for a in amounts}
            if len(currencies) == 1:
                return Amount(sum((a.value for a in amounts), Decimal(0)), amounts[0].currency)
            return None
        numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        return sum(numbers) if len(numbers) == len(values) else None


@dataclass(frozen=True)
class Document:
    title: str
    date_format: str
    timezone: str
    meta: list[tuple[str, Cell]]
    tables: list[Table]


def _money(value: Money | None) -> Amount | None:
    return None if value is None else Amount(value.rounded().amount, value.currency)


def _status(report: ReconciliationReport) -> str:
    if report.errors:
        return "Errors: see the notes"
    return "Differences found" if report.differences else "All matched"


def _journal_status(report: ReconciliationReport) -> str:
    if not report.journal_requested:
        return "not written: a report only (--journal writes it)"
    return f"{len(report.journals)} written or found" if report.journals else "none to write"


def build_document(report: ReconciliationReport) -> Document:
    meta: list[tuple[str, Cell]] = [
        ("Company", report.company.upper()),
        ("Settlement day", report.day),
        ("Result", _status(report)),
        ("Run", report.run_id),
        ("Generated", report.generated_at),
        ("Time zone", report.timezone),
        ("Heal requested", "yes" if report.heal_requested else "no"),
        ("Settlement journal", _journal_status(report)),
    ]
    tables = [
        _classes(report),
        _batches(report),
        _exceptions(report),
        _heals(report),
        _journals(report),
        _skipped(report),
    ]
    if report.notes or report.errors:
        notes = Table("Notes", ("Kind", "Note"), key="notes")
        notes.rows.extend(("error", text) for text in report.errors)
        notes.rows.extend(("note", text) for text in report.notes)
        tables.append(notes)
    return Document(
        title=f"Settlement reconciliation {report.company.upper()}",
        date_format=report.date_format,
        timezone=report.timezone,
        meta=meta,
        tables=tables,
    )


def _classes(report: ReconciliationReport) -> Table:
    table = Table(
        "Summary by class", ("Class", "Transactions"), key="classes", totals=("Transactions",)
    )
    for cls in MatchClass:
        table.rows.append((CLASS_TITLES[cls], report.counts.get(cls, 0)))
    return table


_BATCH_COLUMNS = (
    "Batch", "Settled", "PayTrace count", "PayTrace sales", "PayTrace refunds", "PayTrace net",
    "D365 count", "D365 credits", "D365 debits", "D365 net", "Difference", "Settlement journal",
    "Status",
)  # fmt: skip
_BATCH_BRIEF = (
    "Batch", "Settled", "PayTrace count", "PayTrace net", "D365 count", "D365 net", "Difference",
    "Status",
)  # fmt: skip
_BATCH_AMOUNTS = (
    "PayTrace sales", "PayTrace refunds", "PayTrace net", "D365 credits", "D365 debits",
    "D365 net", "Difference",
)  # fmt: skip


def batch_label(batch: int) -> Cell:
    """A PayTrace batch number, or ``ACH`` for the day's ACH checks (``ACH_BATCH``)."""
    return "ACH" if batch == ACH_BATCH else batch


def _batches(report: ReconciliationReport) -> Table:
    table = Table(
        "Batches",
        _BATCH_COLUMNS,
        key="batches",
        brief=_BATCH_BRIEF,
        totals=tuple(c for c in _BATCH_COLUMNS if "count" in c or c in _BATCH_AMOUNTS),
    )
    for b in report.batches:
        journal = (
            f"{b.journal.journal} ({b.journal.how})" if b.journal and b.journal.journal else ""
        )
        table.rows.append(
            (
                batch_label(b.batch), b.settled_at, b.pt_count, _money(b.pt_sales), _money(b.pt_refunds),
                _money(b.pt_net), b.d365_count, _money(b.d365_credits), _money(b.d365_debits),
                _money(b.d365_net), _money(b.difference), journal,
                "OK" if b.ok else "; ".join(b.problems),
            )
        )  # fmt: skip
    return table


_EXCEPTION_COLUMNS = (
    "Class", "Transaction", "Kind", "PayTrace amount", "PayTrace customer", "PayTrace invoice",
    "Batch", "Settled", "D365 journal", "D365 line", "D365 PaymentId", "D365 account",
    "D365 credit", "D365 debit", "D365 marked invoice", "D365 posted", "D365 date",
    "What is wrong", "Suggested action", "Heal",
)  # fmt: skip
# What a person reads first; both sides' full records fold into the row's detail. No totals: a
# duplicate's PayTrace amount repeats on each of its D365 lines.
_EXCEPTION_BRIEF = (
    "Class", "Transaction", "Kind", "PayTrace amount", "D365 credit", "D365 debit",
    "What is wrong", "Suggested action",
)  # fmt: skip


def _exceptions(report: ReconciliationReport) -> Table:
    table = Table("Exceptions", _EXCEPTION_COLUMNS, key="exceptions", brief=_EXCEPTION_BRIEF)
    for entry in report.exceptions:
        lines: Sequence[D365Record | None] = entry.d365 or (None,)
        for line in lines:
            table.rows.append(_exception_row(entry, line))
    return table


def _exception_row(entry: ExceptionEntry, line: D365Record | None) -> tuple[Cell, ...]:
    pt = entry.paytrace
    heal = ""
    if entry.heal is not None:
        heal = "enqueued" if entry.heal.enqueued else "already enqueued by this run"
    paytrace: tuple[Cell, ...] = (None,) * 6
    if pt is not None:
        paytrace = (
            pt.kind,
            _money(pt.amount),
            pt.customer_id,
            pt.invoice_id,
            batch_label(pt.batch),
            pt.settled_at,
        )
    d365: tuple[Cell, ...] = (None,) * 9
    if line is not None:
        d365 = (
            line.journal, str(line.line_number.normalize()), line.payment_id, line.account,
            _money(line.credit), _money(line.debit), line.marked_invoice,
            "yes" if line.posted else "no", line.transaction_date,
        )  # fmt: skip
    return (
        CLASS_TITLES[entry.match_class],
        entry.transaction_id,
        *paytrace,
        *d365,
        entry.detail,
        entry.action,
        heal,
    )


def _heals(report: ReconciliationReport) -> Table:
    columns = ("Event key", "Transaction", "Kind", "Amount", "Enqueued")
    table = Table("Heal", columns, key="heal", totals=("Amount",))
    for h in report.heals:
        table.rows.append(
            (h.key, h.transaction_id, h.kind, _money(h.amount), "yes" if h.enqueued else "no")
        )
    return table


def _journals(report: ReconciliationReport) -> Table:
    columns = ("Batch", "Journal", "Net to bank", "Lines", "Written")
    table = Table(
        "Settlement journals", columns, key="settlement_journals", totals=("Net to bank", "Lines")
    )
    for j in report.journals:
        table.rows.append((j.batch, j.journal, Amount(j.net, j.currency), j.lines, j.how))
    return table


def _skipped(report: ReconciliationReport) -> Table:
    table = Table(
        "Not judged on this day", ("Transaction", "D365 lines", "Why"), key="not_judged",
        totals=("D365 lines",),
    )  # fmt: skip
    for s in report.skipped:
        table.rows.append((s.transaction_id, s.lines, s.reason))
    return table
