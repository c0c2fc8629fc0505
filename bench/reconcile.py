"""Benchmark: the reconciliation matcher on 1,000,000 PayTrace transactions and 1,000,000 D365 lines.

Usage: python bench/reconcile.py [--rows N] [--check]

Generates both sides deterministically (with a sprinkling of every exception class: missing,
amount, sign, currency, wrong customer, wrong invoice, duplicate, unposted, unknown to PayTrace)
and streams them, row by row, into
  (a) the matcher: column stores + ``paybridge.reconcile.match``;
  (b) a plain-Python dictionary join: every D365 row kept as a tuple in a dict by PaymentId,
      each PayTrace row looked up and compared (the same classes, Decimal arithmetic);
  (c) nothing (the generator alone, to show what generating the rows costs).
Each runs in its own child process, one after the other, so that peak memory (ru_maxrss) is
its own. Prints seconds (total, and net of generation) and peak MB for each, and the ratios;
exits 1 when the two disagree on any class count, or, with --check, when the matcher misses
the targets (10 s, 1.5 GB).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Move this folder behind the stdlib on sys.path: bench/queue.py would shadow the stdlib's queue.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import json
import resource
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

FIRST_TX = 100_000_001
CUSTOMERS = [f"C{n:05d}" for n in range(5000)]
ACCOUNTS = {c: f"US-{c[1:]}" for c in CUSTOMERS}
BRANDS = ("visa", "mastercard", "amex", "discover")
POSTED_JOURNALS = {f"USMF-{j:06d}" for j in range(1000)}
TARGET_SECONDS = 10.0
TARGET_MB = 1536.0
ZERO = Decimal(0)

PtRow = tuple[int, str, Decimal, str, str, str, int, str]
D365Row = tuple[str, str, Decimal, Decimal, str, str, str, str, int]


def _kind(i: int) -> str:
    return "refund" if i % 20 == 7 else ("capture" if i % 10 == 3 else "sale")


def _amount(i: int) -> Decimal:
    return Decimal(100 + (i * 7919) % 99_901).scaleb(-2)


def paytrace_rows(n: int) -> Iterator[PtRow]:
    """Settled transactions in batches of 1,000: (id, kind, amount, currency, customer, invoice, batch, brand)."""
    for i in range(n):
        tx = FIRST_TX + i
        yield (
            tx,
            _kind(i),
            _amount(i),
            "USD",
            CUSTOMERS[i % 5000],
            f"INV-{tx}",
            1 + i // 1000,
            BRANDS[i % 4],
        )


def d365_rows(n: int) -> Iterator[D365Row]:
    """Payment lines, 10,000 per journal; ``i % 1000`` picks the exception a row carries."""
    for i in range(n):
        tx, kind, amount = FIRST_TX + i, _kind(i), _amount(i)
        case = i % 1000
        if case == 1:
            continue  # missing in D365
        credit, debit = (ZERO, amount) if kind == "refund" else (amount, ZERO)
        if case == 2:
            credit, debit = (
                (credit + Decimal("0.01"), debit) if credit else (credit, debit + Decimal("0.01"))
            )
        if case == 6:
            credit, debit = debit, credit
        account = ACCOUNTS[CUSTOMERS[(i + (7 if case == 3 else 0)) % 5000]]
        invoice = "INV-X" if case == 7 else (f"INV-{tx}" if i % 2 == 0 else "")
        journal = f"OPEN-{i // 10_000}" if case == 5 else f"USMF-{i // 10_000:06d}"
        currency = "EUR" if case == 9 else "USD"
        row = (
            f"PT-{tx}-{kind}",
            str(tx),
            credit,
            debit,
            currency,
            account,
            invoice,
            journal,
            i + 1,
        )
        yield row
        if case == 4:
            yield (*row[:8], n + i + 1)  # keyed in twice
        if case == 8:
            ghost = 900_000_000 + i
            yield (
                f"PT-{ghost}-sale",
                str(ghost),
                amount,
                ZERO,
                "USD",
                account,
                "",
                journal,
                2 * n + i,
            )


def run_matcher(n: int) -> dict[str, int]:
    from paybridge.reconcile import Codes, Expectations, LedgerColumns, match
    from paybridge.reconcile.columns import D365Columns, PayTraceColumns

    codes = Codes()
    pt = PayTraceColumns(codes)
    pt.extend(paytrace_rows(n))
    d365 = D365Columns(codes)
    d365.extend(d365_rows(n))
    d365.mark_posted(POSTED_JOURNALS)
    accounts = {codes.code(c): codes.code(a) for c, a in ACCOUNTS.items()}
    result = match(pt, d365, LedgerColumns(codes), Expectations(accounts=accounts))
    return {cls.name.lower(): count for cls, count in result.counts.items() if count}


def run_baseline(n: int) -> dict[str, int]:
    """What one would write first: a dict of D365 rows by PaymentId, then a lookup per transaction."""
    lines: dict[str, list[D365Row]] = {}
    for line in d365_rows(n):
        lines.setdefault(line[0], []).append(line)
    counts: Counter[str] = Counter()
    for tx, kind, amount, currency, customer, invoice, _batch, _brand in paytrace_rows(n):
        found = lines.pop(f"PT-{tx}-{kind}", None)
        if not found:
            counts["missing_in_d365"] += 1
            continue
        if len(found) > 1:
            counts["duplicated_in_d365"] += 1
            continue
        _pid, _ref, credit, debit, cur, account, marked, journal, _n = found[0]
        expected = (ZERO, amount) if kind == "refund" else (amount, ZERO)
        if cur != currency or (credit, debit) != expected:
            counts["amount_mismatch"] += 1
        elif account.casefold() != ACCOUNTS[customer].casefold() or (
            marked and marked.casefold() != invoice.casefold()
        ):
            counts["wrong_party"] += 1
        elif journal not in POSTED_JOURNALS:
            counts["unposted_in_d365"] += 1
        else:
            counts["matched"] += 1
    counts["not_in_paytrace"] += len(lines)  # each unexplained transaction's lines
    return dict(counts)


def run_generator(n: int) -> dict[str, int]:
    rows = sum(1 for _ in paytrace_rows(n)) + sum(1 for _ in d365_rows(n))
    return {"rows": rows}


def child(which: str, n: int) -> None:
    work = {"matcher": run_matcher, "baseline": run_baseline, "generate": run_generator}[which]
    if which == "matcher":
        import paybridge.reconcile  # noqa: F401 - import time is not matching time
    cpu_before = time.process_time()
    started = time.perf_counter()
    counts = work(n)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before  # what the work cost, whatever else the machine runs
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "counts": counts}))


def measure(which: str, n: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, "--rows", str(n)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _num(result: dict[str, object], name: str) -> float:
    value = result[name]
    assert isinstance(value, int | float)
    return float(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--child", choices=("matcher", "baseline", "generate"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return 0
    gen, mine, base = (measure(w, args.rows) for w in ("generate", "matcher", "baseline"))
    print(f"rows: {args.rows:,} PayTrace transactions, ~{args.rows:,} D365 lines")
    print(f"{'':<22}{'seconds':>9}{'cpu s':>8}{'cpu net of gen':>16}{'peak MB':>10}")
    g = _num(gen, "cpu")
    for name, r in (("generation only", gen), ("matcher", mine), ("dict-join baseline", base)):
        s, c, mb = _num(r, "seconds"), _num(r, "cpu"), _num(r, "peak_mb")
        print(f"{name:<22}{s:>9.2f}{c:>8.2f}{max(c - g, 0):>16.2f}{mb:>10.0f}")
    mc, bc = _num(mine, "cpu"), _num(base, "cpu")
    mm, bm = _num(mine, "peak_mb"), _num(base, "peak_mb")
    print(
        f"ratio matcher/baseline: cpu time {mc / bc:.2f} (net of generation "
        f"{(mc - g) / max(bc - g, 1e-9):.2f}), peak memory {mm / bm:.2f}"
    )
    print(f"classes: {json.dumps(mine['counts'], sort_keys=True)}")
    if mine["counts"] != base["counts"]:
        print(f"DISAGREE: baseline says {json.dumps(base['counts'], sort_keys=True)}")
        return 1
    missed = _num(mine, "seconds") > TARGET_SECONDS or mm > TARGET_MB
    print(
        f"targets (< {TARGET_SECONDS:.0f} s, < {TARGET_MB:.0f} MB): {'missed' if missed else 'met'}"
    )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
