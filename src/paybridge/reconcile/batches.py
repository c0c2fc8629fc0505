"""Batch totals: count, sales, refunds and net per PayTrace batch, on both sides, checked to the cent.

PayTrace's own batch summary (what it reported) is checked against the sum of the batch's
transactions; D365's side is the sum of the payment lines those transactions found. All in
integer minor units of the batch's currency.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from paybridge.reconcile.columns import REFUND, D365Columns, PayTraceColumns
from paybridge.reconcile.vectors import series


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
    """Sum both sides per batch (lines in another currency than the batch's are left out).

    A batch's currency is that of its first row; grouped sums in polars, rows in another
    currency (rare) named one by one.
    """
    rows = pl.DataFrame(
        {
            "batch": series(pt.batch),
            "kind": series(pt.kind),
            "minor": series(pt.minor),
            "cur": series(pt.currency),
            "line": series(primary),
        }
    ).with_columns(own=pl.col("cur").first().over("batch"))
    tallies = _pt_side(rows, pt)
    _d365_side(rows, d365, slow, tallies)
    for batch, figures in reported.items():
        tally = tallies.setdefault(batch, BatchTally(batch, figures.currency))
        tally.reported = figures
    for tally in tallies.values():
        tally.mismatches = check_reported(tally)
    return [tallies[b] for b in sorted(tallies)]


def _pt_side(rows: pl.DataFrame, pt: PayTraceColumns) -> dict[int, BatchTally]:
    text = pt.codes.text
    refund = pl.col("kind") == REFUND
    sums = (
        rows.filter(pl.col("cur") == pl.col("own"))
        .group_by("batch")
        .agg(
            pl.len().alias("count"),
            pl.col("minor").filter(~refund).sum().alias("sales"),
            pl.col("minor").filter(refund).sum().alias("refunds"),
        )
    )
    firsts = rows.group_by("batch", maintain_order=True).agg(pl.col("own").first())
    tallies = {b: BatchTally(b, text(cur)) for b, cur in firsts.iter_rows()}
    for batch, count, sales, refunds in sums.iter_rows():
        tally = tallies[batch]
        tally.pt_count, tally.pt_sales, tally.pt_refunds = count, sales or 0, refunds or 0
    mixed = rows.with_row_index("row").filter(pl.col("cur") != pl.col("own"))
    for row, batch, cur in mixed.select("row", "batch", "cur").iter_rows():
        _note(tallies[batch], f"transaction {pt.tx[row]} is in {text(cur)}")
    return tallies


def _d365_side(
    rows: pl.DataFrame,
    d365: D365Columns,
    slow: Mapping[int, tuple[int, ...]],
    tallies: dict[int, BatchTally],
) -> None:
    """Each row's line (or, with several, each of them) in the batch's currency, summed."""
    picked = rows.with_row_index("row").filter(pl.col("cur") == pl.col("own"))
    pairs = picked.filter(pl.col("line") >= 0).select("batch", "own", "line")
    extra = picked.filter(pl.col("row").is_in(pl.Series(list(slow), dtype=pl.UInt32).implode()))
    more = [
        (batch, own, line)
        for row, batch, own in extra.select("row", "batch", "own").iter_rows()
        for line in slow[row]
    ]
    if more:
        pairs = pl.concat([pairs, pl.DataFrame(more, schema=pairs.schema, orient="row")])
    at = pairs["line"]
    sums = (
        pairs.with_columns(
            d_cur=series(d365.currency).gather(at),
            credit=series(d365.credit).gather(at),
            debit=series(d365.debit).gather(at),
        )
        .filter(pl.col("d_cur") == pl.col("own"))
        .group_by("batch")
        .agg(pl.len(), pl.col("credit").sum(), pl.col("debit").sum())
    )
    for batch, count, credits, debits in sums.iter_rows():
        tally = tallies[batch]
        tally.d365_count, tally.d365_credits, tally.d365_debits = count, credits, debits


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
