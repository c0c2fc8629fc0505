"""The pure three-way matcher: every settled PayTrace transaction lands in exactly one class.

No I/O. Input is column stores (``columns``); output is a class per PayTrace row, a finding per
exception (PayTrace rows that did not match and D365 lines nothing in PayTrace explains) and
the batch tallies (``batches``). Designed for a million rows a side: one dict from join key to
line, one pass over PayTrace, integer comparisons only.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import polars as pl

from paybridge.reconcile.batches import BatchTally, ReportedBatch, tally_batches
from paybridge.reconcile.columns import (
    KEY_SPACE,
    KINDS,
    NO_TX,
    UNKNOWN,
    D365Columns,
    LedgerColumns,
    PayTraceColumns,
    debit_kind,
    norm,
)
from paybridge.reconcile.vectors import append, series


class MatchClass(IntEnum):
    """Precedence, when several apply, is missing, duplicated, then the order of the checks in ``_compare``."""

    MATCHED = 0
    MISSING_IN_D365 = 1
    NOT_IN_PAYTRACE = 2
    AMOUNT_MISMATCH = 3
    WRONG_PARTY = 4
    DUPLICATED_IN_D365 = 5
    UNPOSTED_IN_D365 = 6


@dataclass(frozen=True)
class Finding:
    """One exception: a PayTrace row (or -1) and the D365 lines involved; ``reason`` is a code.

    Reasons: ``deleted`` / ``never_posted`` (missing), ``amount`` / ``currency`` / ``sign``,
    ``customer`` / ``invoice``, ``duplicate``, ``unposted``, ``unknown_transaction``,
    ``declined``, ``voided_not_reversed``, ``returned_not_reversed``, ``other_kind`` (not in
    PayTrace).
    """

    match_class: MatchClass
    pt_row: int
    lines: tuple[int, ...]
    reason: str
    ledger_line: tuple[str, int] | None = None


@dataclass(frozen=True)
class Skipped:
    """D365 lines of transactions this day does not judge (pending, voided and reversed...)."""

    tx: int
    lines: tuple[int, ...]
    reason: str


@dataclass
class MatchResult:
    classes: array[int]
    primary: array[int]
    findings: list[Finding]
    skipped: list[Skipped]
    batches: list[BatchTally]
    counts: dict[MatchClass, int] = field(default_factory=dict)

    @property
    def all_matched(self) -> bool:
        exceptions = sum(n for cls, n in self.counts.items() if cls is not MatchClass.MATCHED)
        return exceptions == 0 and all(b.ok for b in self.batches)


@dataclass(frozen=True)
class Expectations:
    """What PayBridge knows besides the two systems' rows.

    ``accounts``: PayTrace customer code -> expected D365 account code (from the xref).
    ``statuses``: PayTrace state of transactions outside the day's batches (``pending``,
    ``authorized``, ``voided``, ``declined``, ``settled``; an ACH check's ``returned`` before
    it settled), and ``settled:other day`` for a check whose money facts fall on several days;
    absent = PayTrace does not know it.
    ``reported``: batch number -> totals PayTrace reported for the batch.
    """

    accounts: Mapping[int, int] = field(default_factory=dict)
    statuses: Mapping[int, str] = field(default_factory=dict)
    reported: Mapping[int, ReportedBatch] = field(default_factory=dict)
    require_posted: bool = True


def match(
    pt: PayTraceColumns,
    d365: D365Columns,
    ledger: LedgerColumns,
    expect: Expectations | None = None,
) -> MatchResult:
    """Classify every PayTrace row and every unexplained D365 line.

    PayTrace's rows are judged a chunk at a time against D365's keys, sorted once: what a
    chunk needs besides the columns is a few of its own size, so ten million rows a side stay
    within a couple of gigabytes.
    """
    expect = expect or Expectations()
    lines = _Lines(pt, d365)
    classes, primary = array("b"), array("q")
    slow: dict[int, tuple[int, ...]] = {}
    reasons: dict[int, str] = {}
    used = pl.repeat(False, len(d365), eager=True)  # lines some row found
    for start in range(0, len(pt), CHUNK):
        line, found = _pair(pt, lines, start, min(len(pt), start + CHUNK))
        judged, why = _compare(pt, d365, line, found, expect, start, lines.marked)
        append(classes, judged)
        append(primary, line)
        slow.update(found)
        reasons.update(why)
        mine = line.filter(line >= 0)
        used = used.scatter(mine, True) if len(mine) else used
    del lines
    taken = [n for found_lines in slow.values() for n in found_lines]
    consumed = bytearray()
    append(consumed, used.scatter(taken, True) if taken else used)
    del used
    findings = _row_findings(pt, d365, ledger, classes, primary, slow, reasons)
    orphans, skipped = _orphans(pt, d365, consumed, expect.statuses)
    findings += orphans
    batches = tally_batches(pt, d365, primary, slow, expect.reported, CHUNK)
    tally = series(classes).value_counts()
    counts = {MatchClass(code): n for code, n in tally.iter_rows()}
    counts[MatchClass.NOT_IN_PAYTRACE] = counts.get(MatchClass.NOT_IN_PAYTRACE, 0) + len(orphans)
    return MatchResult(classes, primary, findings, skipped, batches, counts)


# PayTrace rows judged at once: big enough for vectorised work, small beside ten million.
CHUNK = 1 << 20

# Class bytes other than MATCHED, found at C speed: most rows match.
_NONZERO = re.compile(rb"[^\x00]")


class _Lines:
    """D365's (transaction, kind) keys, sorted once; each row's key is then found by binary
    search, vectorised (half the time of a hash join, which would also have to keep the row
    order). Ids past 2**59 do not fit one int64 key: then a hash join on both columns."""

    def __init__(self, pt: PayTraceColumns, d365: D365Columns) -> None:
        self.d365 = d365
        self.fits = _fits(pt) and _fits(d365)
        tx, kind = series(d365.tx, "tx"), series(d365.kind, "kind")
        self.unknown = tx.filter(kind == UNKNOWN).unique()
        self.marked = d365.invoice.marked()  # lines that mark an invoice
        if self.fits:
            keys = _key(tx, kind)
            self.order = keys.arg_sort()
            self.ordered = keys.gather(self.order)
        else:
            self.keyed = (
                pl.DataFrame({"tx": tx, "kind": kind})
                .with_row_index("line")
                .group_by("tx", "kind")
                .agg(pl.len().alias("n"), pl.col("line").first())
            )

    def candidates(self, pt: PayTraceColumns, rows: list[int]) -> dict[int, tuple[int, ...]]:
        """Every line of each row's key and of its transaction by reference alone, for
        ``rows`` (a few): ranges of the sorted keys, not a scan of every line."""
        if not self.fits or not rows or not len(self.ordered):
            return _candidates(pt, self.d365, rows)
        tx = pl.Series([pt.tx[r] for r in rows], dtype=pl.Int64)
        kind = pl.Series([pt.kind[r] for r in rows], dtype=pl.Int8)
        keys = pl.concat(
            [_key(tx, kind), _key(tx, pl.repeat(UNKNOWN, len(tx), dtype=pl.Int8, eager=True))]
        )
        low = self.ordered.search_sorted(keys, side="left").to_list()
        high = self.ordered.search_sorted(keys, side="right").to_list()
        order, size = self.order, len(rows)
        found: dict[int, tuple[int, ...]] = {}
        for i, row in enumerate(rows):
            spans = [(low[i], high[i]), (low[size + i], high[size + i])]
            lines = [n for a, b in spans if b > a for n in order.slice(a, b - a).to_list()]
            found[row] = tuple(sorted(lines))
        return found

    def lookup(self, tx: pl.Series, kind: pl.Series) -> tuple[pl.Series, pl.Series]:
        """(each row's line where exactly one line has its key, else -1; how many lines have it)."""
        if not self.fits:
            rows = pl.DataFrame({"tx": tx, "kind": kind})
            found = rows.join(self.keyed, on=["tx", "kind"], how="left", maintain_order="left")
            count = found["n"].fill_null(0).cast(pl.Int64)
            picked = pl.when(count == 1).then(found["line"].cast(pl.Int64)).otherwise(-1)
            return pl.select(picked).to_series(), count
        wanted, ordered = _key(tx, kind), self.ordered
        if not len(ordered):
            return pl.repeat(-1, len(tx), eager=True, dtype=pl.Int64), pl.repeat(
                0, len(tx), eager=True, dtype=pl.Int64
            )
        last = len(ordered) - 1
        first = ordered.search_sorted(wanted, side="left")
        here = ordered.gather(first.clip(0, last)) == wanted
        # Several lines share the key when the next one in order has it too; counted exactly
        # for those few only.
        again = here & (first < last) & (ordered.gather((first + 1).clip(0, last)) == wanted)
        count = here.cast(pl.Int64)
        if again.any():
            upper = ordered.search_sorted(wanted.filter(again), side="right")
            count = count.scatter(again.arg_true(), (upper - first.filter(again)).cast(pl.Int64))
        at = self.order.gather(first.clip(0, last)).cast(pl.Int64)
        line = pl.select(pl.when(count == 1).then(at).otherwise(-1)).to_series()
        return line, count


def _pair(
    pt: PayTraceColumns, lines: _Lines, start: int, stop: int
) -> tuple[pl.Series, dict[int, tuple[int, ...]]]:
    """Rows ``start:stop``: each one's D365 line (-1: none or several); rows with several in
    the dict. Only when D365 has duplicate keys or lines known by PaymentReference alone are
    rows looked at one by one, and then only those few."""
    tx = series(pt.tx).slice(start, stop - start)
    line, count = lines.lookup(tx, series(pt.kind).slice(start, stop - start))
    local = (count > 1).arg_true().to_list()
    if len(lines.unknown):
        by_reference = tx.is_in(lines.unknown.implode()).arg_true().to_list()
        local = sorted(set(local) | set(by_reference))
    if not local:
        return line, {}
    slow = lines.candidates(pt, [start + r for r in local])
    fixed = [slow[start + r][0] if len(slow[start + r]) == 1 else -1 for r in local]
    line = line.scatter(local, pl.Series(fixed, dtype=pl.Int64))
    return line, {r: found for r, found in slow.items() if len(found) != 1}


def _fits(columns: PayTraceColumns | D365Columns) -> bool:
    """Whether (transaction, kind) fits one int64 key (PayTrace ids are far below 2**59)."""
    tx = series(columns.tx)
    return len(tx) == 0 or bool((tx.abs() < 2**59).all())


def _key(tx: pl.Series, kind: pl.Series) -> pl.Series:
    return tx * KEY_SPACE + kind.cast(pl.Int64)


def _candidates(
    pt: PayTraceColumns, d365: D365Columns, rows: list[int]
) -> dict[int, tuple[int, ...]]:
    """Every line of each row's key and of its transaction by reference alone, for ``rows``."""
    if not rows:
        return {}
    wanted = {r: (pt.tx[r], pt.kind[r]) for r in rows}
    txs = pl.Series(sorted({tx for tx, _kind in wanted.values()}), dtype=pl.Int64)
    near = (
        pl.DataFrame({"tx": series(d365.tx), "kind": series(d365.kind)})
        .with_row_index("line")
        .filter(pl.col("tx").is_in(txs.implode()))
    )
    by_key: dict[tuple[int, int], list[int]] = {}
    for line, tx, kind in near.iter_rows():
        by_key.setdefault((tx, kind), []).append(line)
    return {
        r: tuple(sorted(by_key.get((tx, kind), []) + by_key.get((tx, UNKNOWN), [])))
        for r, (tx, kind) in wanted.items()
    }


def _compare(
    pt: PayTraceColumns,
    d365: D365Columns,
    line: pl.Series,
    slow: Mapping[int, tuple[int, ...]],
    expect: Expectations,
    start: int,
    marked: pl.Series,
) -> tuple[pl.Series, dict[int, str]]:
    """The rows from ``start`` against their lines, at once; the first failing check wins.

    Checks in order: currency, amount and side, customer (the xref's account), marked invoice,
    journal posted. Texts that differ as received are compared again as F&O compares them
    (``Codes.same``, ``norm``) for those rows only. Returns the classes and the reasons.
    """
    several = [r - start for r, f in slow.items() if f]
    joined = _gathered(pt, d365, line, several, expect, start, marked)
    want_credit = pl.when(pl.col("refund")).then(0).otherwise(pl.col("minor"))
    want_debit = pl.when(pl.col("refund")).then(pl.col("minor")).otherwise(0)
    # Each check once, as a column: an eager select computes an expression once per use.
    checks = joined.select(
        found=pl.col("line") >= 0,
        slow=pl.col("slow"),
        currency=pl.col("d_cur") != pl.col("cur"),
        amount=(pl.col("d_credit") != want_credit) | (pl.col("d_debit") != want_debit),
        flipped=(pl.col("d_credit") == want_debit) & (pl.col("d_debit") == want_credit),
        customer=pl.col("customer_bad"),
        invoice=pl.col("invoice_bad"),
        unposted=pl.lit(expect.require_posted) & (pl.col("d_posted") == 0),
    )
    found, amount_bad = pl.col("found"), pl.col("amount")
    cls = (
        pl.when(~found & pl.col("slow")).then(MatchClass.DUPLICATED_IN_D365.value)
        .when(~found).then(MatchClass.MISSING_IN_D365.value)
        .when(pl.col("currency") | amount_bad).then(MatchClass.AMOUNT_MISMATCH.value)
        .when(pl.col("customer") | pl.col("invoice")).then(MatchClass.WRONG_PARTY.value)
        .when(pl.col("unposted")).then(MatchClass.UNPOSTED_IN_D365.value)
        .otherwise(MatchClass.MATCHED.value)
    )  # fmt: skip
    reason = (
        pl.when(~found).then(pl.lit(None, pl.String))
        .when(pl.col("currency")).then(pl.lit("currency"))
        .when(amount_bad & pl.col("flipped")).then(pl.lit("sign"))
        .when(amount_bad).then(pl.lit("amount"))
        .when(pl.col("customer")).then(pl.lit("customer"))
        .when(pl.col("invoice")).then(pl.lit("invoice"))
        .when(pl.col("unposted")).then(pl.lit("unposted"))
    )  # fmt: skip
    judged = checks.select(cls.cast(pl.Int8).alias("cls"), reason.alias("reason"))
    reasons = {
        start + row: text
        for row, text in judged.with_row_index("row")
        .filter(pl.col("reason").is_not_null())
        .select("row", "reason")
        .iter_rows()
    }
    return judged["cls"], reasons


def _gathered(
    pt: PayTraceColumns,
    d365: D365Columns,
    line: pl.Series,
    slow: list[int],
    expect: Expectations,
    start: int,
    marked: pl.Series,
) -> pl.DataFrame:
    """Each row beside its line's columns (taken by position: no second join) and the checks
    on texts, ``customer_bad`` and ``invoice_bad``."""
    size = len(line)

    def rows(column: array[int]) -> pl.Series:
        return series(column).slice(start, size)

    at = line.clip(0) if len(d365) else pl.Series([None] * size, dtype=pl.Int64)
    joined = pl.DataFrame(
        {
            "line": line,
            "cur": rows(pt.currency),
            "minor": rows(pt.minor),
            "refund": debit_kind(rows(pt.kind)),
            "customer": rows(pt.customer),
            "slow": _flags(size, slow),
            "d_cur": series(d365.currency).gather(at),
            "d_credit": series(d365.credit).gather(at),
            "d_debit": series(d365.debit).gather(at),
            "d_account": series(d365.account).gather(at),
            "d_marked": marked.gather(at) if len(d365) else at.is_not_null(),
            "d_posted": series(d365.posted).gather(at),
        }
    )
    want = pl.Series([None] * size, dtype=pl.Int32)
    if expect.accounts:
        want = _accounts(expect.accounts, joined["customer"])
    return _party_checks(joined.with_columns(want=want), pt, d365, start)


def _accounts(accounts: Mapping[int, int], customers: pl.Series) -> pl.Series:
    """Each row's expected D365 account code (null: no cross-reference). Codes are small
    integers, so a table indexed by code answers by one gather instead of a hash lookup."""
    top = customers.max()
    size = max(max(accounts), top if isinstance(top, int) else 0) + 1
    if min(accounts) < 0 or size > 4 * (len(customers) + len(accounts)) + 4096:
        # Not codes of one ``Codes`` (negative, or far apart): a hash lookup, no huge table.
        return customers.replace_strict(
            list(accounts), list(accounts.values()), default=None, return_dtype=pl.Int32
        ).alias("want")
    table = pl.Series([None] * size, dtype=pl.Int32).scatter(
        list(accounts), pl.Series(list(accounts.values()), dtype=pl.Int32)
    )
    return table.gather(customers.cast(pl.Int64)).alias("want")


def _flags(size: int, rows: list[int] | pl.Series) -> pl.Series:
    """True on the rows numbered in ``rows``."""
    flags = pl.repeat(False, size, eager=True)
    return flags.scatter(rows, True) if len(rows) else flags


def _party_checks(
    joined: pl.DataFrame, pt: PayTraceColumns, d365: D365Columns, start: int
) -> pl.DataFrame:
    """``customer_bad`` and ``invoice_bad``: texts that differ as received and as F&O compares.

    Only rows whose texts differ as received are compared again, one by one (``Codes.same``,
    ``norm``); invoice texts are taken only for the lines that mark one."""
    found = pl.col("line") >= 0
    numbered = joined.with_row_index("row")
    differs = found & pl.col("want").is_not_null() & (pl.col("want") != pl.col("d_account"))
    verdicts: dict[tuple[int, int], bool] = {}
    wrong_customer: list[int] = []
    for row, want, got in numbered.filter(differs).select("row", "want", "d_account").iter_rows():
        verdict = verdicts.get((want, got))
        if verdict is None:
            verdict = verdicts[(want, got)] = not d365.codes.same(want, got)
        if verdict:
            wrong_customer.append(row)
    marked = numbered.filter(found & pl.col("d_marked")).select("row", "line")
    wrong_invoice: list[int] = []
    if len(marked):
        texts = marked.with_columns(
            mark=d365.invoice.take(marked["line"]),
            mine=pt.invoice.take(marked["row"].cast(pl.Int64) + start),
        ).filter(pl.col("mark") != pl.col("mine"))
        wrong_invoice = [
            row for row, mark, mine in texts.select("row", "mark", "mine").iter_rows()
            if norm(mark) != norm(mine)
        ]  # fmt: skip
    return joined.with_columns(
        customer_bad=_flags(len(joined), wrong_customer),
        invoice_bad=_flags(len(joined), wrong_invoice),
    )


def _ledger_lines(ledger: LedgerColumns, wanted: set[int]) -> dict[int, tuple[int, int]]:
    """Join key -> (journal code, line) that PayBridge recorded, for the keys in ``wanted``."""
    found: dict[int, tuple[int, int]] = {}
    for i, (tx, kind) in enumerate(zip(ledger.tx, ledger.kind, strict=True)):
        key = tx * KEY_SPACE + kind
        if key in wanted:
            found[key] = (ledger.journal[i], ledger.line[i])
    return found


def _row_findings(
    pt: PayTraceColumns,
    d365: D365Columns,
    ledger: LedgerColumns,
    classes: array[int],
    primary: array[int],
    slow: dict[int, tuple[int, ...]],
    reasons: dict[int, str],
) -> list[Finding]:
    rows = [m.start() for m in _NONZERO.finditer(bytes(classes))]
    keys = {pt.tx[r] * KEY_SPACE + pt.kind[r]: r for r in rows}
    posted = _ledger_lines(ledger, set(keys))
    text = ledger.codes.text
    findings: list[Finding] = []
    for row in rows:
        key = pt.tx[row] * KEY_SPACE + pt.kind[row]
        mine = posted.get(key)
        ledger_line = (text(mine[0]), mine[1]) if mine else None
        cls = MatchClass(classes[row])
        if cls is MatchClass.MISSING_IN_D365:
            reason = "deleted" if mine else "never_posted"
            findings.append(Finding(cls, row, (), reason, ledger_line))
        elif row in slow:
            lines = _ours_first(slow[row], d365, mine)
            findings.append(Finding(cls, row, lines, "duplicate", ledger_line))
        else:
            line = (primary[row],)
            findings.append(Finding(cls, row, line, reasons.get(row, ""), ledger_line))
    return findings


def _ours_first(
    lines: tuple[int, ...], d365: D365Columns, mine: tuple[int, int] | None
) -> tuple[int, ...]:
    if mine is None:
        return lines
    ours = [r for r in lines if (d365.journal[r], d365.line[r]) == mine]
    return tuple(ours + [r for r in lines if r not in ours])


def _orphans(
    pt: PayTraceColumns,
    d365: D365Columns,
    consumed: bytearray,
    statuses: Mapping[int, str],
) -> tuple[list[Finding], list[Skipped]]:
    """D365 lines no settled PayTrace row claimed, grouped per transaction and judged."""
    groups: dict[int, list[int]] = {}
    at = consumed.find(0)
    while at >= 0:
        groups.setdefault(d365.tx[at], []).append(at)
        at = consumed.find(0, at + 1)
    if not groups:
        return [], []
    known = pl.Series(list(groups), dtype=pl.Int64)
    settled = set(known.filter(known.is_in(series(pt.tx).implode())).to_list())
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    for tx, lines in groups.items():
        verdict = _judge_orphan(tx, lines, d365, settled, statuses)
        if isinstance(verdict, Skipped):
            skipped.append(verdict)
        else:
            findings.append(Finding(MatchClass.NOT_IN_PAYTRACE, -1, tuple(lines), verdict))
    return findings, skipped


def _judge_orphan(
    tx: int,
    lines: list[int],
    d365: D365Columns,
    settled: set[int],
    statuses: Mapping[int, str],
) -> Skipped | str:
    if tx == NO_TX:
        return "unknown_transaction"
    status = statuses.get(tx, "")
    if tx in settled:
        if status == "settled:other day":  # an ACH check's sale and return, on two days
            return Skipped(tx, tuple(lines), "a fact of another day's reconciliation")
        return "other_kind"  # e.g. a void line for a transaction PayTrace settled
    if status in ("pending", "authorized"):
        return Skipped(tx, tuple(lines), "not settled yet in PayTrace")
    if status.startswith("settled"):
        return Skipped(tx, tuple(lines), "settled in another batch (another day's reconciliation)")
    if status in ("voided", "returned"):
        # "returned": an ACH check sent back before it ever settled (no money moved)
        net = sum(d365.credit[r] - d365.debit[r] for r in lines)
        if net == 0:
            return Skipped(tx, tuple(lines), f"{status} in PayTrace and reversed in D365")
        return f"{status}_not_reversed"
    return "declined" if status == "declined" else "unknown_transaction"


def kind_name(code: int) -> str:
    return KINDS[code]
