"""The reconciliation report as one neutral document (titled tables of typed cells).

HTML, XLSX and CSV all render this one document, so they carry the same content; only the
formatting of a cell differs (text for HTML/CSV, typed cells with number formats for XLSX).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from paybridge.model import Money, currency_exponent
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
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)


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


def build_document(report: ReconciliationReport) -> Document:
    meta: list[tuple[str, Cell]] = [
        ("Company", report.company.upper()),
        ("Settlement day", report.day),
        ("Result", _status(report)),
        ("Run", report.run_id),
        ("Generated", report.generated_at),
        ("Heal requested", "yes" if report.heal_requested else "no"),
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
        notes = Table("Notes", ("Kind", "Note"))
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
    table = Table("Summary by class", ("Class", "Transactions"))
    for cls in MatchClass:
        table.rows.append((CLASS_TITLES[cls], report.counts.get(cls, 0)))
    return table


_BATCH_COLUMNS = (
    "Batch", "Settled", "PayTrace count", "PayTrace sales", "PayTrace refunds", "PayTrace net",
    "D365 count", "D365 credits", "D365 debits", "D365 net", "Difference", "Settlement journal",
    "Status",
)  # fmt: skip


def _batches(report: ReconciliationReport) -> Table:
    table = Table("Batches", _BATCH_COLUMNS)
    for b in report.batches:
        journal = (
            f"{b.journal.journal} ({b.journal.how})" if b.journal and b.journal.journal else ""
        )
        table.rows.append(
            (
                b.batch, b.settled_at, b.pt_count, _money(b.pt_sales), _money(b.pt_refunds),
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


def _exceptions(report: ReconciliationReport) -> Table:
    table = Table("Exceptions", _EXCEPTION_COLUMNS)
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
            pt.batch,
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
    table = Table("Heal", ("Event key", "Transaction", "Kind", "Amount", "Enqueued"))
    for h in report.heals:
        table.rows.append(
            (h.key, h.transaction_id, h.kind, _money(h.amount), "yes" if h.enqueued else "no")
        )
    return table


def _journals(report: ReconciliationReport) -> Table:
    table = Table("Settlement journals", ("Batch", "Journal", "Net to bank", "Lines", "Written"))
    for j in report.journals:
        table.rows.append((j.batch, j.journal, Amount(j.net, j.currency), j.lines, j.how))
    return table


def _skipped(report: ReconciliationReport) -> Table:
    table = Table("Not judged on this day", ("Transaction", "D365 lines", "Why"))
    for s in report.skipped:
        table.rows.append((s.transaction_id, s.lines, s.reason))
    return table
