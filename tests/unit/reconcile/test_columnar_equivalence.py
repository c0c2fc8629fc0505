"""The columnar matcher against a plain dictionary join: the same random days, the same answers.

The oracle below is the reconciliation written the obvious way, row by row, in ``Decimal``
(PaymentIds read per row, a dict of lines by key, texts compared with ``norm``). Each random
day (its RNG injected by seed) goes through the column stores row by row and page by page, in
small chunks too, and must classify every PayTrace row, judge every orphan line and total
every batch exactly as the oracle does.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl
import pytest

from paybridge.model import currency_exponent
from paybridge.reconcile import matcher
from paybridge.reconcile.batches import BatchTally
from paybridge.reconcile.columns import (
    KIND_CODE,
    Codes,
    D365Columns,
    D365Row,
    LedgerColumns,
    PayTraceColumns,
    PayTraceRow,
    norm,
)
from paybridge.reconcile.matcher import Expectations, MatchClass, match

D = Decimal
CURRENCIES = ("USD", "USD", "USD", "EUR", "JPY", "KWD")
ACCOUNTS = {"C1": "US\\-001", "C2": "US-002"}  # C3 has no cross-reference
POSTED = {"J1", "J2"}
STATUSES = ("", "pending", "authorized", "voided", "declined", "settled:9")


@dataclass
class RandomDay:
    pt: list[PayTraceRow] = field(default_factory=list)
    d365: list[D365Row] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)


def _amount(rng: random.Random) -> Decimal:
    return D(rng.randint(1, 50_000)).scaleb(-rng.choice((0, 1, 2, 2, 2, 3, 4)))


def random_day(rng: random.Random, big_ids: bool = False) -> RandomDay:
    day = RandomDay()
    base = 2**60 if big_ids else 1000
    txs = rng.sample(range(base, base + 80), rng.randint(0, 30))
    for tx in txs:
        kind = rng.choice(("sale", "sale", "capture", "refund"))
        amount, currency = _amount(rng), rng.choice(CURRENCIES)
        customer = rng.choice(("C1", "C2", "C3"))
        invoice = rng.choice(("", "INV-1", "inv-1", "INV-2"))
        day.pt.append((tx, kind, amount, currency, customer, invoice, rng.randint(1, 3), "visa"))
        for _copy in range(rng.choice((0, 1, 1, 1, 1, 2))):
            day.d365.append(_line(rng, tx, kind, amount, currency))
        if rng.random() < 0.1:  # keyed by hand: the reference alone names the transaction
            day.d365.append(_line(rng, tx, kind, amount, currency, payment_id="by hand"))
    for tx in rng.sample(range(base + 100, base + 140), rng.randint(0, 6)):
        kind = rng.choice(("sale", "void", "refund"))
        day.d365.append(_line(rng, tx, kind, _amount(rng), "USD"))
        day.statuses[tx] = rng.choice(STATUSES)
    if txs and rng.random() < 0.3:  # another kind for a settled transaction
        day.d365.append(_line(rng, txs[0], "void", _amount(rng), "USD"))
    if rng.random() < 0.2:
        day.d365.append(_line(rng, 5, "sale", D(1), "USD", payment_id="junk", reference="x"))
    rng.shuffle(day.d365)
    return day


def _line(
    rng: random.Random,
    tx: int,
    kind: str,
    amount: Decimal,
    currency: str,
    payment_id: str | None = None,
    reference: str | None = None,
) -> D365Row:
    if rng.random() < 0.15:
        amount += D("0.01")
    if rng.random() < 0.1:
        amount = amount.quantize(D("0.000001"))  # F&O answers six places
    credit, debit = (D(0), amount) if kind in ("refund", "void") else (amount, D(0))
    if rng.random() < 0.1:
        credit, debit = debit, credit
    if rng.random() < 0.1:
        currency = "CAD"
    ref = str(tx) if rng.random() < 0.95 else f"0{tx}"
    return (
        payment_id if payment_id is not None else f"PT-{tx}-{kind}",
        reference if reference is not None else ref,
        credit,
        debit,
        currency,
        rng.choice(("US-001", "us-001", "US\\-001", "US-002", "US-009")),
        rng.choice(("", "", "INV-1", "INV-2", "CIV-9")),
        rng.choice(("J1", "J2", "J-OPEN")),
        rng.randint(1, 99),
    )


# ---- the oracle: a dictionary join, row by row, in Decimal ---------------------------------


def _ids(payment_id: str, reference: str) -> tuple[int, str]:
    head, _, kind = payment_id[3:].rpartition("-")
    if payment_id[:3] == "PT-" and kind in KIND_CODE and head.isdigit():
        return int(head), kind
    text = reference.strip()
    return (int(text), "?") if text.isdigit() else (-1, "?")


def _minor(amount: Decimal, currency: str) -> Decimal:
    return amount.scaleb(currency_exponent(currency)).to_integral_value(ROUND_HALF_EVEN)


@dataclass
class Answer:
    classes: list[MatchClass]
    reasons: dict[int, tuple[str, tuple[int, ...]]]
    orphans: set[tuple[tuple[int, ...], str]]
    skipped: set[tuple[int, tuple[int, ...]]]
    batches: list[tuple[int, ...]]


def oracle(day: RandomDay, require_posted: bool) -> Answer:
    ids = [_ids(line[0], line[1]) for line in day.d365]
    by_key: dict[tuple[int, str], list[int]] = defaultdict(list)
    for n, key in enumerate(ids):
        by_key[key].append(n)
    classes: list[MatchClass] = []
    reasons: dict[int, tuple[str, tuple[int, ...]]] = {}
    consumed: set[int] = set()
    found_of: list[list[int]] = []
    for row, (tx, kind, amount, currency, customer, invoice, _b, _br) in enumerate(day.pt):
        found = sorted(by_key.get((tx, kind), []) + by_key.get((tx, "?"), []))
        found_of.append(found)
        consumed.update(found)
        if len(found) != 1:
            classes.append(MatchClass.DUPLICATED_IN_D365 if found else MatchClass.MISSING_IN_D365)
            reasons[row] = ("duplicate", tuple(found)) if found else ("never_posted", ())
            continue
        line = day.d365[found[0]]
        _pid, _ref, credit, debit, cur, account, marked, journal, _n = line
        want = _minor(amount, currency)
        expected = (D(0), want) if kind == "refund" else (want, D(0))
        got = (_minor(credit, cur), _minor(debit, cur))
        verdict = MatchClass.MATCHED, ""
        if cur != currency:
            verdict = MatchClass.AMOUNT_MISMATCH, "currency"
        elif got != expected:
            flipped = got == expected[::-1]
            verdict = MatchClass.AMOUNT_MISMATCH, "sign" if flipped else "amount"
        elif customer in ACCOUNTS and norm(ACCOUNTS[customer]) != norm(account):
            verdict = MatchClass.WRONG_PARTY, "customer"
        elif marked and norm(marked) != norm(invoice):
            verdict = MatchClass.WRONG_PARTY, "invoice"
        elif require_posted and journal not in POSTED:
            verdict = MatchClass.UNPOSTED_IN_D365, "unposted"
        classes.append(verdict[0])
        if verdict[1]:
            reasons[row] = (verdict[1], tuple(found))
    orphans, skipped = _judge_orphans(day, ids, consumed)
    return Answer(classes, reasons, orphans, skipped, _batches(day, found_of))


def _judge_orphans(
    day: RandomDay, ids: list[tuple[int, str]], consumed: set[int]
) -> tuple[set[tuple[tuple[int, ...], str]], set[tuple[int, tuple[int, ...]]]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for n, (tx, _kind) in enumerate(ids):
        if n not in consumed:
            groups[tx].append(n)
    settled = {row[0] for row in day.pt}
    orphans: set[tuple[tuple[int, ...], str]] = set()
    skipped: set[tuple[int, tuple[int, ...]]] = set()
    for tx, lines in groups.items():
        status = day.statuses.get(tx, "")
        net = sum(
            _minor(day.d365[n][2], day.d365[n][4]) - _minor(day.d365[n][3], day.d365[n][4])
            for n in lines
        )
        if tx == -1:
            orphans.add((tuple(lines), "unknown_transaction"))
        elif tx in settled:
            orphans.add((tuple(lines), "other_kind"))
        elif status in ("pending", "authorized") or status.startswith("settled"):
            skipped.add((tx, tuple(lines)))
        elif status == "voided":
            if net == 0:
                skipped.add((tx, tuple(lines)))
            else:
                orphans.add((tuple(lines), "voided_not_reversed"))
        else:
            reason = "declined" if status == "declined" else "unknown_transaction"
            orphans.add((tuple(lines), reason))
    return orphans, skipped


def _batches(day: RandomDay, found_of: list[list[int]]) -> list[tuple[int, ...]]:
    own: dict[int, str] = {}
    sums: dict[int, list[Decimal]] = {}
    for row, (_tx, kind, amount, currency, _c, _i, batch, _b) in enumerate(day.pt):
        own.setdefault(batch, currency)
        figures = sums.setdefault(batch, [D(0)] * 6)
        if currency != own[batch]:
            continue
        figures[0] += 1
        figures[2 if kind == "refund" else 1] += _minor(amount, currency)
        for n in found_of[row]:
            line = day.d365[n]
            if line[4] == own[batch]:
                figures[3] += 1
                figures[4] += _minor(line[2], line[4])
                figures[5] += _minor(line[3], line[4])
    return [(b, *(int(x) for x in sums[b])) for b in sorted(sums)]


# ---- the engine, row by row or page by page -------------------------------------------------


def _pages(
    rows: list[tuple[object, ...]], names: tuple[str, ...], rng: random.Random
) -> list[pl.DataFrame]:
    pages, start = [], 0
    while start < len(rows) or not pages:
        size = rng.randint(1, max(1, len(rows)))
        part = rows[start : start + size]
        columns = list(zip(*part, strict=True)) if part else [[] for _ in names]
        pages.append(pl.DataFrame({n: list(c) for n, c in zip(names, columns, strict=True)}))
        start += size
    return pages


def engine(day: RandomDay, require_posted: bool, by_page: random.Random | None) -> Answer:
    codes = Codes()
    pt, d365 = PayTraceColumns(codes), D365Columns(codes)
    if by_page is None:
        pt.extend(day.pt)
        d365.extend(day.d365)
    else:
        pt_names = ("tx", "kind", "amount", "currency", "customer", "invoice", "batch", "brand")
        d_names = ("payment_id", "reference", "credit", "debit", "currency", "account",
                   "invoice", "journal", "line")  # fmt: skip
        for page in _pages(list(day.pt), pt_names, by_page):
            if len(page):
                pt.extend_page(page)
        for page in _pages(list(day.d365), d_names, by_page):
            if len(page):
                d365.extend_page(page)
    d365.mark_posted(POSTED)
    accounts = {codes.code(c): codes.code(a) for c, a in ACCOUNTS.items()}
    expect = Expectations(accounts=accounts, statuses=day.statuses, require_posted=require_posted)
    result = match(pt, d365, LedgerColumns(codes), expect)
    reasons = {f.pt_row: (f.reason, f.lines) for f in result.findings if f.pt_row >= 0 and f.reason}
    orphans = {(f.lines, f.reason) for f in result.findings if f.pt_row < 0}
    return Answer(
        [MatchClass(c) for c in result.classes],
        reasons,
        orphans,
        {(s.tx, s.lines) for s in result.skipped},
        [_figures(b) for b in result.batches],
    )


def _figures(b: BatchTally) -> tuple[int, ...]:
    figures = (b.pt_count, b.pt_sales, b.pt_refunds, b.d365_count, b.d365_credits, b.d365_debits)
    return (b.batch, *figures)


@pytest.mark.parametrize("seed", range(150))
def test_the_columnar_engine_classifies_random_days_as_a_dictionary_join(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    day = random_day(rng, big_ids=seed % 10 == 9)
    require_posted = rng.random() < 0.8
    expected = oracle(day, require_posted)
    assert engine(day, require_posted, None) == expected
    monkeypatch.setattr(matcher, "CHUNK", rng.randint(1, 8))  # rows judged a few at a time
    assert engine(day, require_posted, random.Random(seed)) == expected
