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

from paybridge.reconcile.columns import D365Columns, PayTraceColumns, debit_kind
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
    chunk: int = 1 << 20,
) -> list[BatchTally]:
    """Sum both sides per batch (lines in another currency than the batch's are left out).

    A batch's currency is that of its first row. Grouped sums in polars, ``chunk`` rows at a
    time (ten million rows need no more than a chunk's worth besides the columns); rows in
    another currency (rare) and rows with several lines are looked at one by one.
    """
    size = len(pt)
    owns: dict[int, int] = {}
    for start in range(0, size, chunk):
        batch = series(pt.batch).slice(start, chunk)
        firsts = pl.DataFrame({"batch": batch, "cur": series(pt.currency).slice(start, chunk)})
        for number, cur in firsts.group_by("batch", maintain_order=True).first().iter_rows():
            owns.setdefault(number, cur)
    text = pt.codes.text
    tallies = {number: BatchTally(number, text(cur)) for number, cur in owns.items()}
    own = pl.DataFrame(
        {"batch": list(owns), "own": list(owns.values())},
        schema={"batch": pl.Int64, "own": pl.Int32},
    )
    parts = [
        _partial(pt, d365, primary, own, start, chunk, tallies) for start in range(0, size, chunk)
    ]
    if parts:
        sums = pl.concat(parts).group_by("batch").sum()
        for number, count, sales, refunds, lines, credits, debits in sums.iter_rows():
            tally = tallies[number]
            tally.pt_count, tally.pt_sales, tally.pt_refunds = count, sales, refunds
            tally.d365_count, tally.d365_credits, tally.d365_debits = lines, credits, debits
    _several_lines(pt, d365, slow, owns, tallies)
    for number, figures in reported.items():
        tally = tallies.setdefault(number, BatchTally(number, figures.currency))
        tally.reported = figures
    for tally in tallies.values():
        tally.mismatches = check_reported(tally)
    return [tallies[b] for b in sorted(tallies)]


def _partial(
    pt: PayTraceColumns,
    d365: D365Columns,
    primary: array[int],
    own: pl.DataFrame,
    start: int,
    chunk: int,
    tallies: dict[int, BatchTally],
) -> pl.DataFrame:
    """Per batch, the sums of rows ``start:start+chunk`` (rows with several lines: none of
    their lines, ``_several_lines`` adds them)."""
    line = series(primary).slice(start, chunk)
    rows = pl.DataFrame(
        {
            "batch": series(pt.batch).slice(start, chunk),
            "refund": debit_kind(series(pt.kind).slice(start, chunk)),
            "minor": series(pt.minor).slice(start, chunk),
            "cur": series(pt.currency).slice(start, chunk),
            "line": line,
        }
    ).join(own, on="batch", how="left", maintain_order="left")
    at = line.clip(0)
    found = pl.col("line") >= 0
    if len(d365):
        rows = rows.with_columns(
            d_ok=found & (series(d365.currency).gather(at) == pl.col("own")),
            credit=series(d365.credit).gather(at),
            debit=series(d365.debit).gather(at),
        )
    else:
        rows = rows.with_columns(d_ok=pl.lit(False), credit=pl.lit(0), debit=pl.lit(0))
    mixed = rows.with_row_index("row").filter(pl.col("cur") != pl.col("own"))
    text = pt.codes.text
    for row, number, cur in mixed.select("row", "batch", "cur").iter_rows():
        _note(tallies[number], f"transaction {pt.tx[start + row]} is in {text(cur)}")
    mine, refund, d_ok = pl.col("cur") == pl.col("own"), pl.col("refund"), pl.col("d_ok")
    zero = pl.lit(0, pl.Int64)
    return (
        rows.filter(mine)
        .group_by("batch")
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.when(refund).then(zero).otherwise(pl.col("minor")).sum().alias("sales"),
            pl.when(refund).then(pl.col("minor")).otherwise(zero).sum().alias("refunds"),
            d_ok.cast(pl.Int64).sum().alias("lines"),
            pl.when(d_ok).then(pl.col("credit")).otherwise(zero).sum().alias("credits"),
            pl.when(d_ok).then(pl.col("debit")).otherwise(zero).sum().alias("debits"),
        )
    )


def _several_lines(
    pt: PayTraceColumns,
    d365: D365Columns,
    slow: Mapping[int, tuple[int, ...]],
    owns: Mapping[int, int],
    tallies: dict[int, BatchTally],
) -> None:
    for row, lines in slow.items():
        own = owns[pt.batch[row]]
        if pt.currency[row] != own:
            continue
        tally = tallies[pt.batch[row]]
        for line in lines:
            if d365.currency[line] == own:
                tally.d365_count += 1
                tally.d365_credits += d365.credit[line]
                tally.d365_debits += d365.debit[line]


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
