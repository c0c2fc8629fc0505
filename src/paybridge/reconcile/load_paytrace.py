"""Read PayTrace's side of a day: the batches settled that day, their transactions, their totals.

Also the state of recent transactions that are not in those batches (pending, voided...), so
that a D365 line for a sale that settles tomorrow is not reported as unknown to PayTrace, and
the card BINs that tell a transaction's brand for the settlement journal.

ACH checks (``load_checks``) are not in PayTrace's card batches: each one settles on its own,
so the checks that settled on the day (sales, funded holds as captures, refunds) and those the
bank returned on the day (``return``, a debit) are the day's pseudo-batch ``ACH_BATCH``, with
the ids ``check_tx`` gives them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from paybridge.connectors.paytrace import (
    BatchRecord,
    CheckExportRequest,
    CheckRecord,
    ExportByDateRangeRequest,
    PayTraceClient,
    TransactionRecord,
)
from paybridge.connectors.paytrace.poller import change_kinds
from paybridge.model import currency_exponent
from paybridge.reconcile.batches import ReportedBatch
from paybridge.reconcile.columns import Codes, PayTraceColumns, check_tx, to_minor
from paybridge.reconcile.journal import card_brand

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int | None], None]
# The day's ACH checks in the batch tallies (PayTrace's batch numbers start at 1).
ACH_BATCH = 0


def quiet(stage: str, done: int, total: int | None) -> None:
    """The progress callback when nobody watches."""


@dataclass
class PayTraceDay:
    """Everything read from PayTrace for one merchant-local day."""

    columns: PayTraceColumns
    currency: str
    batches: dict[int, BatchRecord] = field(default_factory=dict)
    records: dict[int, TransactionRecord] = field(default_factory=dict)
    reported: dict[int, ReportedBatch] = field(default_factory=dict)
    statuses: dict[int, str] = field(default_factory=dict)
    bins: dict[int, str] = field(default_factory=dict)
    # Settled records that carry no money fact (e.g. an unreadable type), kept for the report.
    unreadable: list[TransactionRecord] = field(default_factory=list)
    # ACH checks with a money fact on the day, by ``check_tx`` id (``load_checks``).
    checks: dict[int, CheckRecord] = field(default_factory=dict)


def money_kind(record: TransactionRecord) -> str | None:
    """The one fact of a settled transaction that moved money: sale, capture or refund."""
    kinds = change_kinds(record)
    for kind in ("refund", "capture", "sale"):
        if kind in kinds:
            return kind
    return None


def status_of(record: TransactionRecord) -> str:
    """A record's state in the matcher's words (see ``Expectations.statuses``)."""
    kinds = change_kinds(record)
    message = record.status_message.lower()
    if "decline" in kinds:
        return "declined"
    if "void" in kinds:
        return "voided"
    if record.batch_number is not None:
        return f"settled:{record.batch_number}"
    if "authorization" in kinds and "capture" not in kinds:
        return "authorized"
    return "pending" if record.status_code.strip().upper() == "Y" or "pending" in message else ""


async def load_paytrace(
    client: PayTraceClient,
    day: date,
    *,
    currency: str,
    lookback_days: int,
    codes: Codes,
    progress: Progress = quiet,
    capture_invoices: Mapping[str, str] | None = None,
) -> PayTraceDay:
    """Batches settled on ``day`` (merchant-local), their transactions and recent states.

    ``capture_invoices``: authorization id -> the D365 invoice its capture paid (a card order's
    authorization carries the order number; its capture pays the invoice D365 posted)."""
    out = PayTraceDay(PayTraceColumns(codes), currency.upper())
    recent = await client.export_by_date_range(
        ExportByDateRangeRequest(
            start_date=day - timedelta(days=lookback_days),
            end_date=day + timedelta(days=1),
            include_bin=True,
        )
    )
    for record in recent:
        masked = record.credit_card.masked_number if record.credit_card else ""
        if masked:
            out.bins[record.transaction_id] = masked
    batches = await client.export_batches(day, day)
    for done, batch in enumerate(sorted(batches, key=lambda b: b.number)):
        progress("PayTrace batches", done, len(batches))
        out.batches[batch.number] = batch
        out.reported[batch.number] = reported_totals(batch, out.currency)
        _add_records(
            out, batch.number, await client.batch_transactions(batch.number), capture_invoices or {}
        )
    progress("PayTrace batches", len(batches), len(batches))
    settled = set(out.records)
    for record in recent:
        if record.transaction_id not in settled:
            out.statuses[record.transaction_id] = status_of(record)
    return out


def _add_records(
    out: PayTraceDay,
    batch: int,
    records: Iterable[TransactionRecord],
    capture_invoices: Mapping[str, str],
) -> None:
    for record in records:
        kind = money_kind(record)
        if kind is None or record.amount is None:
            out.unreadable.append(record)
            continue
        masked = out.bins.get(record.transaction_id) or (
            record.credit_card.masked_number if record.credit_card else ""
        )
        out.records[record.transaction_id] = record
        out.columns.add(
            record.transaction_id,
            kind,
            record.amount,
            out.currency,
            record.customer_id or "",
            (capture_invoices.get(str(record.transaction_id)) if kind == "capture" else None)
            or record.invoice_id
            or "",
            batch,
            card_brand(masked),
        )


def _minor(value: object, exponent: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        return to_minor(Decimal(str(value)), exponent)
    except ArithmeticError:
        return None


def reported_totals(batch: BatchRecord, currency: str) -> ReportedBatch:
    """PayTrace's own figures for a batch; the v1 field names are not public (spec §5.11)."""
    extra = batch.model_extra or {}
    exponent = currency_exponent(currency)
    return ReportedBatch(
        currency=currency,
        count=batch.transaction_count,
        sales=_minor(extra.get("sales_amount"), exponent),
        refunds=_minor(extra.get("refund_amount"), exponent),
        net=None if batch.net_amount is None else to_minor(batch.net_amount, exponent),
    )


async def load_checks(
    client: PayTraceClient,
    day: date,
    out: PayTraceDay,
    *,
    lookback_days: int,
    timezone: str,
    returns: bool = True,
) -> None:
    """The day's ACH checks into ``out``: those that settled on ``day`` (merchant-local) and,
    with ``returns``, those the bank returned on it; the state of the others the export shows
    (returns come weeks after their sale, so the export is read ``lookback_days`` back).

    ``returns`` is off when D365's own "Reverse transaction" undoes a return
    (``checks.reverse_service``): that reversal carries no PaymentId to match."""
    records = await client.export_checks(
        CheckExportRequest(start_date=day - timedelta(days=lookback_days),
                           end_date=day + timedelta(days=1))
    )  # fmt: skip
    for record in records:
        _add_check(out, day, record, timezone, returns)


def _add_check(
    out: PayTraceDay, day: date, record: CheckRecord, timezone: str, returns: bool
) -> None:
    tx = check_tx(record.check_transaction_id)
    kind, status = record.transaction_type.strip().upper(), record.status.strip().upper()
    if status == "DECLINED":
        out.statuses[tx] = "declined"
        return
    settled = _check_day(record, "settled", timezone)
    if settled is None and status == "SETTLED":  # an export that names no settlement time
        settled = _check_day(record, "funded", timezone)
    returned = _check_day(record, "returned", timezone)
    money = {"REFUND": "refund", "HOLD": "capture"}.get(kind, "sale")
    facts = [(money, settled)] if settled is not None else []
    if settled is not None and returned is not None and returns:
        facts.append(("return", returned))  # a return before settling moved no money
    today = [name for name, on in facts if on == day]
    if record.amount is None or not today:
        out.statuses[tx] = _check_state(status, settled is not None or status == "SETTLED")
        if record.amount is None and today:
            log.warning("check %s has no amount; not matched", record.check_transaction_id)
        return
    out.checks[tx] = record
    for name in today:
        out.columns.add(
            tx, name, record.amount, out.currency, record.customer_id, record.invoice_id,
            ACH_BATCH, "ach",
        )  # fmt: skip
    if len(today) < len(facts):  # its other fact is another day's: its line is not unexplained
        out.statuses[tx] = "settled:other day"


def _check_day(record: CheckRecord, name: str, timezone: str) -> date | None:
    try:
        moment = record.at(name, timezone)
    except ValueError:
        log.warning("check %s: unreadable %s %r", record.check_transaction_id, name,
                    getattr(record, name))  # fmt: skip
        return None
    return None if moment is None else moment.astimezone(ZoneInfo(timezone)).date()


def _check_state(status: str, settled: bool) -> str:
    """A check with no money fact on the day, in the matcher's words."""
    if settled:
        return "settled"
    return {"PENDING": "pending", "HELD": "authorized", "VOIDED": "voided", "VOID": "voided",
            "RETURNED": "returned"}.get(status, "")  # fmt: skip


async def resolve_unknown(
    client: PayTraceClient, day: PayTraceDay, transaction_ids: Iterable[int]
) -> None:
    """The state of ids that D365 names but the day's reads did not show (one lookup each)."""
    for transaction_id in transaction_ids:
        if transaction_id in day.statuses or transaction_id in day.records:
            continue
        record = await client.export_by_id(transaction_id)
        day.statuses[transaction_id] = "" if record is None else status_of(record)
