"""From matcher findings to report entries: both sides' records, what is wrong, what to do about it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from paybridge.connectors.dynamics.literals import parse_edm_date, unescape_display_value
from paybridge.connectors.paytrace import BatchRecord, CheckRecord, TransactionRecord
from paybridge.model import Money
from paybridge.reconcile.batches import BatchTally
from paybridge.reconcile.columns import (
    KINDS,
    D365Columns,
    PayTraceColumns,
    from_minor,
    transaction_text,
)
from paybridge.reconcile.heal import HealAction
from paybridge.reconcile.journal import JournalOutcome
from paybridge.reconcile.matcher import Finding, MatchClass, MatchResult
from paybridge.reconcile.report import (
    BatchSummary,
    D365Record,
    ExceptionEntry,
    PayTraceRecord,
    SkippedEntry,
)


@dataclass
class Sources:
    """What the loaders kept, to show both sides' records for the exceptions."""

    company: str
    pt: PayTraceColumns
    d365: D365Columns
    records: Mapping[int, TransactionRecord]
    rows: Sequence[Mapping[str, Any]]
    batches: Mapping[int, BatchRecord]
    posted_journals: set[str]
    expected_accounts: Mapping[str, str]  # PayTrace customer id -> D365 account
    paytrace_tz: str
    heals: Mapping[str, HealAction] = field(default_factory=dict)  # "<tx>:<kind>" -> action
    checks: Mapping[int, CheckRecord] = field(default_factory=dict)  # ACH, by ``check_tx``


def paytrace_record(src: Sources, row: int) -> PayTraceRecord:
    tx = src.pt.tx[row]
    record = src.records.get(tx)
    check = src.checks.get(tx)
    currency = src.pt.codes.text(src.pt.currency[row])
    card = ""
    created = settled = None
    try:  # an unreadable time is shown as blank, not a failed report
        if record is not None:
            card = record.credit_card.masked_number if record.credit_card else ""
            created = record.created_at_utc(src.paytrace_tz)
            settled = record.settled_at_utc(src.paytrace_tz)
        elif check is not None:
            card = check.masked_account_number
            created = check.at("created", src.paytrace_tz)
            settled = check.at("settled", src.paytrace_tz)
    except ValueError:
        pass
    invoice = record.invoice_id if record else check.invoice_id if check else ""
    return PayTraceRecord(
        transaction_id=transaction_text(tx),
        kind=KINDS[src.pt.kind[row]],
        amount=Money(amount=from_minor(src.pt.minor[row], currency), currency=currency),
        customer_id=src.pt.codes.text(src.pt.customer[row]),
        invoice_id=invoice,
        batch=src.pt.batch[row],
        card=card,
        created_at=created,
        settled_at=settled,
    )


def d365_record(src: Sources, line: int) -> D365Record:
    raw = src.rows[line]
    currency = str(raw.get("CurrencyCode") or src.d365.codes.text(src.d365.currency[line]))
    journal = str(raw.get("JournalBatchNumber") or "")
    try:
        day = parse_edm_date(raw.get("TransactionDate"))
    except (TypeError, ValueError):
        day = None
    return D365Record(
        company=str(raw.get("dataAreaId") or src.company),
        journal=journal,
        line_number=_decimal(raw.get("LineNumber")),
        payment_id=src.d365.payment_id(line),
        payment_reference=src.d365.reference(line),
        account=unescape_display_value(str(raw.get("AccountDisplayValue") or "")),
        credit=Money(amount=from_minor(src.d365.credit[line], currency), currency=currency),
        debit=Money(amount=from_minor(src.d365.debit[line], currency), currency=currency),
        marked_invoice=str(raw.get("MarkedInvoice") or ""),
        posted=journal in src.posted_journals,
        transaction_date=day,
        voucher=str(raw.get("Voucher") or ""),
    )


def _decimal(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _where(line: D365Record) -> str:
    return f"{line.journal} line {line.line_number.normalize()}"


def _side(line: D365Record) -> str:
    if line.credit.amount and line.debit.amount:
        return f"credit {line.credit} and debit {line.debit}"
    return f"credit {line.credit}" if line.credit.amount else f"debit {line.debit}"


def _expected_side(pt: PayTraceRecord) -> str:
    return f"{'debit' if pt.kind in ('refund', 'return') else 'credit'} {pt.amount}"


Texts = dict[str, tuple[str, str]]


def _missing(src: Sources, f: Finding, pt: PayTraceRecord, lines: Sequence[D365Record]) -> Texts:
    posted = f"{f.ledger_line[0]} line {f.ledger_line[1]}" if f.ledger_line else ""
    key = f"paytrace:{pt.transaction_id}:{pt.kind}"
    return {
        "deleted": (
            f"PayBridge posted it as {posted}; that line is no longer in D365.",
            "Re-post it with --heal (D365 is searched by PaymentId first, so never twice); "
            "find out who deleted the line.",
        ),
        "never_posted": (
            f"No payment line with PaymentId PT-{pt.transaction_id}-{pt.kind}; "
            "PayBridge recorded no posting.",
            f"Re-drive it with --heal; if it fails again, see `paybridge dlq list` for {key}.",
        ),
    }


def _mismatch(src: Sources, f: Finding, pt: PayTraceRecord, lines: Sequence[D365Record]) -> Texts:
    line = lines[0]
    fix = f"Correct {_where(line)} to {_expected_side(pt)}."
    return {
        "currency": (
            f"PayTrace settled {pt.amount}; the D365 line is in {line.credit.currency}.",
            fix,
        ),
        "sign": (
            f"PayTrace settled a {pt.kind} of {pt.amount}; D365 has {_side(line)} (the wrong side).",
            f"Move {_where(line)} to {_expected_side(pt)}.",
        ),
        "amount": (f"PayTrace settled {pt.amount}; D365 has {_side(line)}.", fix),
    }


def _party(src: Sources, f: Finding, pt: PayTraceRecord, lines: Sequence[D365Record]) -> Texts:
    line = lines[0]
    expected = src.expected_accounts.get(pt.customer_id, "")
    invoice_fix = (
        f"Mark invoice {pt.invoice_id} on {_where(line)} instead."
        if pt.invoice_id
        else f"Unmark {line.marked_invoice} on {_where(line)}."
    )
    return {
        "customer": (
            f"PayTrace customer {pt.customer_id} is D365 account {expected}; "
            f"the line is on {line.account}.",
            f"Move {_where(line)} to customer {expected}.",
        ),
        "invoice": (
            f"PayTrace paid invoice {pt.invoice_id or '(none)'}; "
            f"the line marks {line.marked_invoice}.",
            invoice_fix,
        ),
    }


def _duplicate(src: Sources, f: Finding, pt: PayTraceRecord, lines: Sequence[D365Record]) -> Texts:
    ours = " (the one PayBridge posted)" if f.ledger_line else ""
    others = ", ".join(_where(line) for line in lines[1:])
    every = ", ".join(_where(line) for line in lines)
    return {
        "duplicate": (
            f"{len(lines)} D365 lines stand for one PayTrace {pt.kind} of {pt.amount}: {every}.",
            f"Keep {_where(lines[0])}{ours}; delete {others} (reverse it if already posted).",
        )
    }


def _unposted(src: Sources, f: Finding, pt: PayTraceRecord, lines: Sequence[D365Record]) -> Texts:
    journal = lines[0].journal
    return {
        "unposted": (
            f"The line is in journal {journal}, which is not posted.",
            f"Post journal {journal}.",
        )
    }


def _orphan(lines: Sequence[D365Record]) -> Texts:
    first = lines[0]
    ref = first.payment_reference
    net = ", ".join(_side(line) for line in lines)
    return {
        "unknown_transaction": (
            f"PayTrace has no transaction {ref}; D365 has {net}.",
            "Check where this payment came from; reverse or delete the line if no money "
            "was received.",
        ),
        "declined": (
            f"PayTrace declined transaction {ref}: no money moved; D365 has {net}.",
            "Reverse or delete the line.",
        ),
        "voided_not_reversed": (
            f"PayTrace voided transaction {ref}; D365 still holds {net} with no full reversal.",
            "Post the void reversal, or delete the line if the journal is not posted.",
        ),
        "returned_not_reversed": (
            f"The bank returned ACH check {ref} before it settled: no money moved; D365 still "
            f"holds {net} with no full reversal.",
            "Post the return's reversing line, or delete the line if the journal is not posted.",
        ),
        "other_kind": (
            f"PayTrace settled transaction {ref} once; D365 also has {first.payment_id} ({net}).",
            f"Reverse or delete {_where(first)}.",
        ),
    }


_BY_CLASS = {
    MatchClass.AMOUNT_MISMATCH: _mismatch,
    MatchClass.WRONG_PARTY: _party,
    MatchClass.DUPLICATED_IN_D365: _duplicate,
    MatchClass.UNPOSTED_IN_D365: _unposted,
}


def explain(
    src: Sources, f: Finding, pt: PayTraceRecord | None, lines: Sequence[D365Record]
) -> tuple[str, str]:
    """(what is wrong, the suggested action) for a person."""
    texts: Texts = {}
    if f.match_class is MatchClass.MISSING_IN_D365 and pt:
        texts = _missing(src, f, pt, lines)
    elif f.match_class is MatchClass.NOT_IN_PAYTRACE and lines:
        texts = _orphan(lines)
    elif f.match_class in _BY_CLASS and pt and lines:
        texts = _BY_CLASS[f.match_class](src, f, pt, lines)
    return texts.get(
        f.reason, (f"{f.match_class.name.lower()}: {f.reason}", "Review both records.")
    )


def exception_entry(src: Sources, f: Finding) -> ExceptionEntry:
    pt = paytrace_record(src, f.pt_row) if f.pt_row >= 0 else None
    lines = tuple(d365_record(src, line) for line in f.lines)
    detail, action = explain(src, f, pt, lines)
    tx = pt.transaction_id if pt else (lines[0].payment_reference if lines else "")
    heal = src.heals.get(f"{pt.transaction_id}:{pt.kind}") if pt else None
    return ExceptionEntry(f.match_class, f.reason, tx, pt, lines, detail, action, heal)


def _figure(name: str, said: int, summed: int, currency: str) -> str:
    if name == "count":
        return f"count: PayTrace reports {said}, its transactions number {summed}"
    said_m, summed_m = from_minor(said, currency), from_minor(summed, currency)
    return f"{name}: PayTrace reports {said_m} {currency}, its transactions sum to {summed_m} {currency}"


def batch_summary(src: Sources, tally: BatchTally, journal: JournalOutcome | None) -> BatchSummary:
    cur = tally.currency

    def money(minor: int) -> Money:
        return Money(amount=from_minor(minor, cur), currency=cur)

    problems = [_figure(n, a, b, cur) for n, a, b in tally.mismatches] + list(tally.notes)
    if tally.difference:
        problems.append(f"D365 differs from PayTrace by {money(tally.difference)}")
    if tally.d365_count != tally.pt_count:
        problems.append(
            f"D365 has {tally.d365_count} lines for {tally.pt_count} PayTrace transactions"
        )
    record = src.batches.get(tally.batch)
    try:
        settled = record.settled_at_utc(src.paytrace_tz) if record else None
    except ValueError:
        settled = None
    return BatchSummary(
        batch=tally.batch,
        currency=cur,
        settled_at=settled,
        pt_count=tally.pt_count,
        pt_sales=money(tally.pt_sales),
        pt_refunds=money(tally.pt_refunds),
        pt_net=money(tally.pt_net),
        d365_count=tally.d365_count,
        d365_credits=money(tally.d365_credits),
        d365_debits=money(tally.d365_debits),
        d365_net=money(tally.d365_net),
        difference=money(tally.difference),
        problems=tuple(problems),
        journal=journal,
    )


def skipped_entries(result: MatchResult) -> tuple[SkippedEntry, ...]:
    return tuple(
        SkippedEntry(transaction_text(s.tx), len(s.lines), s.reason) for s in result.skipped
    )
