"""Batch totals: count, sales, refunds and net per PayTrace batch, on both sides, checked to the cent.

PayTrace's own batch summary (what it reported) is checked against the sum of the batch's
transactions; D365's side is the sum of the payment lines those transactions found. All in
integer minor units of the batch's currency.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field

from paybridge.reconcile.columns import REFUND, D365Columns, PayTraceColumns


@dataclass(frozen=True)
class ReportedBatch:
    """Totals PayTrace reported for a batch (minor units); None where it did not say."""

    currency: str
    count: int | None = None
    sales: int | None = None
    refunds: int | None = None
    net: int | None = None


@dataclass
class BatchTally:
    """One batch, both sides. Sales and refunds are positive; net = sales - refunds."""

    batch: int
    currency: str
    pt_count: int = 0
    pt_sales: int = 0
    pt_refunds: int = 0
    d365_count: int = 0
    d365_credits: int = 0
    d365_debits: int = 0
    reported: ReportedBatch | None = None
    # (figure, what PayTrace reported, what its transactions sum to), minor units or a count.
    mismatches: list[tuple[str, int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def pt_net(self) -> int:
        return self.pt_sales - self.pt_refunds

    @property
    def d365_net(self) -> int:
        return self.d365_credits - self.d365_debits

    @property
    def difference(self) -> int:
        """PayTrace net minus D365 net: what D365 is short (positive) or over (negative)."""
        return self.pt_net - self.d365_net

    @property
    def ok(self) -> bool:
        """Both sides agree to the cent and PayTrace's summary equals its own lines."""
        return (
            not self.mismatches
            and not self.notes
            and self.difference == 0
            and self.d365_count == self.pt_count
        )


def tally_batches(
    pt: PayTraceColumns,
    d365: D365Columns,
    primary: array[int],
    slow: Mapping[int, tuple[int, ...]],
    reported: Mapping[int, ReportedBatch],
) -> list[BatchTally]:
    """Sum both sides per batch (lines in another currency than the batch's are left out)."""
    text = pt.codes.text
    tallies: dict[int, BatchTally] = {}
    current = BatchTally(-1, "")
    currency = -1
    d_cur, d_credit, d_debit = d365.currency, d365.credit, d365.debit
    columns = zip(pt.batch, pt.kind, pt.minor, pt.currency, primary, strict=True)
    for row, (batch, kind, minor, cur, line) in enumerate(columns):
        if current.batch != batch:
            found = tallies.get(batch)
            if found is None:
                found = tallies[batch] = BatchTally(batch, text(cur))
            current, currency = found, pt.codes.code(found.currency)
        if cur != currency:
            _note(current, f"transaction {pt.tx[row]} is in {text(cur)}")
            continue
        current.pt_count += 1
        if kind == REFUND:
            current.pt_refunds += minor
        else:
            current.pt_sales += minor
        for one in (line,) if line >= 0 else slow.get(row, ()):
            if d_cur[one] == currency:
                current.d365_count += 1
                current.d365_credits += d_credit[one]
                current.d365_debits += d_debit[one]
    for batch, figures in reported.items():
        tally = tallies.setdefault(batch, BatchTally(batch, figures.currency))
        tally.reported = figures
    for tally in tallies.values():
        tally.mismatches = check_reported(tally)
    return [tallies[b] for b in sorted(tallies)]


def _note(tally: BatchTally, problem: str) -> None:
    message = f"mixed currencies: {problem}"
    if message not in tally.notes:
        tally.notes.append(message)


def check_reported(tally: BatchTally) -> list[tuple[str, int, int]]:
    """PayTrace's summary against the sum of its own lines; one entry per figure that differs."""
    figures = tally.reported
    if figures is None:
        return []
    pairs = (
        ("count", figures.count, tally.pt_count),
        ("sales", figures.sales, tally.pt_sales),
        ("refunds", figures.refunds, tally.pt_refunds),
        ("net", figures.net, tally.pt_net),
    )
    return [
        (name, said, summed) for name, said, summed in pairs if said is not None and said != summed
    ]
