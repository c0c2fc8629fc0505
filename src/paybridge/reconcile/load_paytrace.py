"""Read PayTrace's side of a day: the batches settled that day, their transactions, their totals.

Also the state of recent transactions that are not in those batches (pending, voided...), so
that a D365 line for a sale that settles tomorrow is not reported as unknown to PayTrace, and
the card BINs that tell a transaction's brand for the settlement journal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from paybridge.connectors.paytrace import (
    BatchRecord,
    ExportByDateRangeRequest,
    PayTraceClient,
    TransactionRecord,
)
from paybridge.connectors.paytrace.poller import change_kinds
from paybridge.model import currency_exponent
from paybridge.reconcile.batches import ReportedBatch
from paybridge.reconcile.columns import Codes, PayTraceColumns, to_minor
from paybridge.reconcile.journal import card_brand

Progress = Callable[[str, int, int | None], None]


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


async def resolve_unknown(
    client: PayTraceClient, day: PayTraceDay, transaction_ids: Iterable[int]
) -> None:
    """The state of ids that D365 names but the day's reads did not show (one lookup each)."""
    for transaction_id in transaction_ids:
        if transaction_id in day.statuses or transaction_id in day.records:
            continue
        record = await client.export_by_id(transaction_id)
        day.statuses[transaction_id] = "" if record is None else status_of(record)
