"""The pure three-way matcher: every settled PayTrace transaction lands in exactly one class.

No I/O. Input is column stores (``columns``); output is a class per PayTrace row, a finding per
exception (PayTrace rows that did not match and D365 lines nothing in PayTrace explains) and
the batch tallies (``batches``). Designed for a million rows a side: one dict from join key to
line, one pass over PayTrace, integer comparisons only.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import repeat

from paybridge.reconcile.batches import BatchTally, ReportedBatch, tally_batches
from paybridge.reconcile.columns import (
    KEY_SPACE,
    KINDS,
    NO_TX,
    REFUND,
    UNKNOWN,
    D365Columns,
    LedgerColumns,
    PayTraceColumns,
)


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
    ``declined``, ``voided_not_reversed``, ``other_kind`` (not in PayTrace).
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
    ``authorized``, ``voided``, ``declined``, ``settled``); absent = PayTrace does not know it.
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
    """Classify every PayTrace row and every unexplained D365 line."""
    expect = expect or Expectations()
    primary, slow = _pair(pt, d365)
    classes, reasons, consumed = _compare(pt, d365, primary, slow, expect)
    findings = _row_findings(pt, d365, ledger, classes, primary, slow, reasons)
    orphans, skipped = _orphans(pt, d365, consumed, expect.statuses)
    findings += orphans
    batches = tally_batches(pt, d365, primary, slow, expect.reported)
    counts = {MatchClass(code): n for code, n in Counter(classes).items()}
    counts[MatchClass.NOT_IN_PAYTRACE] = counts.get(MatchClass.NOT_IN_PAYTRACE, 0) + len(orphans)
    return MatchResult(classes, primary, findings, skipped, batches, counts)


# Class bytes other than MATCHED, found at C speed: most rows match.
_NONZERO = re.compile(rb"[^\x00]")


def _pair(pt: PayTraceColumns, d365: D365Columns) -> tuple[array[int], dict[int, tuple[int, ...]]]:
    """Each PayTrace row's one D365 line (-1: none or several); rows with several in ``slow``.

    The common case (one line per key) is a dict lookup per row done by ``map`` in C. Only when
    D365 has duplicate keys or lines known by PaymentReference alone are rows looked at one by
    one, and then only to find those few.
    """
    keys = [t * KEY_SPACE + k for t, k in zip(d365.tx, d365.kind, strict=True)]
    index = dict(zip(keys, range(len(keys)), strict=True))
    dups: dict[int, list[int]] = {}
    if len(index) < len(keys):
        for row in [r for r, key in enumerate(keys) if index[key] != r]:
            dups.setdefault(keys[row], [index[keys[row]]]).append(row)
    wanted = [t * KEY_SPACE + k for t, k in zip(pt.tx, pt.kind, strict=True)]
    primary = array("q", map(index.get, wanted, repeat(-1)))
    unknown: set[int] = set()
    if UNKNOWN in d365.kind:
        unknown = {t for t, k in zip(d365.tx, d365.kind, strict=True) if k == UNKNOWN}
    slow: dict[int, tuple[int, ...]] = {}
    if not dups and not unknown:
        return primary, slow
    for row, key in enumerate(wanted):
        if key not in dups and key // KEY_SPACE not in unknown:
            continue
        found = _candidates(key, key - key % KEY_SPACE + UNKNOWN, index, dups)
        primary[row] = found[0] if len(found) == 1 else -1
        if len(found) != 1:
            slow[row] = found
    return primary, slow


def _candidates(
    key: int, unknown_key: int, index: dict[int, int], dups: dict[int, list[int]]
) -> tuple[int, ...]:
    found: list[int] = []
    for k in (key, unknown_key):
        if k in dups:
            found += dups[k]
        elif k in index:
            found.append(index[k])
    return tuple(sorted(found))


def _compare(
    pt: PayTraceColumns,
    d365: D365Columns,
    primary: array[int],
    slow: Mapping[int, tuple[int, ...]],
    expect: Expectations,
) -> tuple[array[int], dict[int, str], bytearray]:
    """The hot loop: one PayTrace row against its line; the first failing check wins.

    Checks in order: currency, amount and side, customer (the xref's account), marked invoice,
    journal posted. Every column is a local name: attribute lookups would double the time.
    """
    classes = array("b", bytes(len(pt)))
    reasons: dict[int, str] = {}
    consumed = bytearray(len(d365))
    d_cur, d_credit, d_debit = d365.currency, d365.credit, d365.debit
    d_account, d_invoice, d_posted = d365.account, d365.invoice, d365.posted
    account_of, same, need_posted = expect.accounts.get, d365.codes.same, expect.require_posted
    missing, mismatch = MatchClass.MISSING_IN_D365.value, MatchClass.AMOUNT_MISMATCH.value
    party, unposted = MatchClass.WRONG_PARTY.value, MatchClass.UNPOSTED_IN_D365.value
    columns = zip(primary, pt.currency, pt.minor, pt.kind, pt.customer, pt.invoice, strict=True)
    for row, (line, currency, amount, kind, customer, invoice) in enumerate(columns):
        if line < 0:
            found = slow.get(row, ())
            for other in found:
                consumed[other] = 1
            classes[row] = MatchClass.DUPLICATED_IN_D365.value if found else missing
            continue
        consumed[line] = 1
        if d_cur[line] != currency:
            classes[row], reasons[row] = mismatch, "currency"
            continue
        credit, debit = d_credit[line], d_debit[line]
        expected = (0, amount) if kind == REFUND else (amount, 0)
        if credit != expected[0] or debit != expected[1]:
            flipped = credit == expected[1] and debit == expected[0]
            classes[row], reasons[row] = mismatch, "sign" if flipped else "amount"
            continue
        account = account_of(customer)
        if (
            account is not None
            and account != d_account[line]
            and not same(account, d_account[line])
        ):
            classes[row], reasons[row] = party, "customer"
            continue
        marked = d_invoice[line]
        if marked and marked != invoice and not same(marked, invoice):
            classes[row], reasons[row] = party, "invoice"
            continue
        if need_posted and not d_posted[line]:
            classes[row], reasons[row] = unposted, "unposted"
    return classes, reasons, consumed


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
    settled = set(pt.tx)
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
    if tx in settled:
        return "other_kind"  # e.g. a void line for a transaction PayTrace settled
    status = statuses.get(tx, "")
    if status in ("pending", "authorized"):
        return Skipped(tx, tuple(lines), "not settled yet in PayTrace")
    if status.startswith("settled"):
        return Skipped(tx, tuple(lines), "settled in another batch (another day's reconciliation)")
    if status == "voided":
        net = sum(d365.credit[r] - d365.debit[r] for r in lines)
        if net == 0:
            return Skipped(tx, tuple(lines), "voided in PayTrace and reversed in D365")
        return "voided_not_reversed"
    return "declined" if status == "declined" else "unknown_transaction"


def kind_name(code: int) -> str:
    return KINDS[code]
