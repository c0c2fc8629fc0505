"""Benchmark: reconciliation of N PayTrace transactions against ~N D365 lines, streamed in pages.

Usage: python bench/reconcile.py [--rows N] [--page ROWS] [--only matcher,...] [--check]

Both sides are generated deterministically, a page of columns at a time (what a loader hands
over), with a sprinkling of every exception class (missing, amount, sign, currency, wrong
customer, wrong invoice, duplicate, unposted, unknown to PayTrace). Each engine below reads the
same pages, in its own child process one after the other, so that peak memory (ru_maxrss) is
its own:
  matcher   the column stores (``extend_page``) + ``paybridge.reconcile.match`` (polars);
  duckdb    the same pages into DuckDB and one SQL classification (class counts only, no
            findings or batch tallies: the other columnar engine, measured to choose one);
  baseline  a plain-Python dictionary join: every D365 row a tuple (Decimal amounts) in a dict
            by PaymentId, each PayTrace row looked up and compared;
  generate  the pages alone (what producing the input costs; the "net" columns subtract it);
  rows      the pages turned into Python tuples (what the baseline spends before its first
            dict operation: its ratio is also shown net of it, the strictest comparison).
Prints seconds, CPU seconds, CPU net of generation and peak MB for each, and the ratios
against the baseline measured in this run; exits 1 when two engines disagree on any class
count, or, with --check, when the matcher misses its targets (1M rows: < 2 s and at least 3x
the baseline's CPU; any size: < 30 s and < 2 GB for 10M).
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

import polars as pl

FIRST_TX = 100_000_001
CUSTOMERS = 5000
POSTED_JOURNALS = {f"USMF-{j:06d}" for j in range(10_000)}
ENGINES = ("generate", "rows", "matcher", "duckdb", "baseline")
CENT = Decimal("0.01")
ZERO = Decimal(0)


def _kind(i: pl.Expr) -> pl.Expr:
    return (
        pl.when(i % 20 == 7).then(pl.lit("refund"))
        .when(i % 10 == 3).then(pl.lit("capture"))
        .otherwise(pl.lit("sale"))
    )  # fmt: skip


def _money(cents: pl.Expr) -> pl.Expr:
    return cents.cast(pl.Decimal(20, 0)) * pl.lit(CENT)


def _customer(i: pl.Expr, prefix: str) -> pl.Expr:
    return pl.lit(prefix) + (i % CUSTOMERS).cast(pl.String).str.zfill(5)


def paytrace_pages(n: int, page: int) -> Iterator[pl.DataFrame]:
    """Settled transactions in batches of 1,000: tx, kind, amount, currency, customer, invoice, batch, brand."""
    i = pl.col("i")
    for start in range(0, n, page):
        yield pl.select(
            pl.int_range(start, min(n, start + page), dtype=pl.Int64).alias("i")
        ).select(
            tx=i + FIRST_TX,
            kind=_kind(i),
            amount=_money(100 + (i * 7919) % 99_901),
            currency=pl.lit("USD"),
            customer=_customer(i, "C"),
            invoice=pl.format("INV-{}", i + FIRST_TX),
            batch=1 + i // 1000,
            brand=pl.lit(["visa", "mastercard", "amex", "discover"]).list.get(i % 4),
        )


def d365_pages(n: int, page: int) -> Iterator[pl.DataFrame]:
    """Payment lines, 10,000 per journal; ``i % 1000`` picks the exception a row carries."""
    i, case = pl.col("i"), pl.col("i") % 1000
    for start in range(0, n, page):
        base = pl.select(pl.int_range(start, min(n, start + page), dtype=pl.Int64).alias("i"))
        base = base.filter(case != 1)  # missing in D365
        cents = 100 + (i * 7919) % 99_901
        refund = _kind(i) == "refund"
        over = pl.when(case == 2).then(1).otherwise(0)  # one cent over
        credit = pl.when(refund).then(0).otherwise(cents + over)
        debit = pl.when(refund).then(cents + over).otherwise(0)
        lines = base.select(
            "i",
            payment_id=pl.format("PT-{}-{}", i + FIRST_TX, _kind(i)),
            reference=(i + FIRST_TX).cast(pl.String),
            credit=_money(pl.when(case == 6).then(debit).otherwise(credit)),
            debit=_money(pl.when(case == 6).then(credit).otherwise(debit)),
            currency=pl.when(case == 9).then(pl.lit("EUR")).otherwise(pl.lit("USD")),
            account=_customer(i + pl.when(case == 3).then(7).otherwise(0), "US-"),
            invoice=pl.when(case == 7)
            .then(pl.lit("INV-X"))
            .when(i % 2 == 0)
            .then(pl.format("INV-{}", i + FIRST_TX))
            .otherwise(pl.lit("")),
            journal=pl.when(case == 5)
            .then(pl.format("OPEN-{}", i // 10_000))
            .otherwise(pl.lit("USMF-") + (i // 10_000).cast(pl.String).str.zfill(6)),
            line=(i + 1).cast(pl.Decimal(20, 0)),
        )
        twice = lines.filter(case == 4).with_columns(line=(i + n + 1).cast(pl.Decimal(20, 0)))
        ghosts = lines.filter(case == 8).with_columns(
            payment_id=pl.format("PT-{}-sale", i + 900_000_000),
            reference=(i + 900_000_000).cast(pl.String),
            credit=_money(cents),
            debit=_money(pl.lit(0, pl.Int64)),
            currency=pl.lit("USD"),
            invoice=pl.lit(""),
            line=(i + 2 * n).cast(pl.Decimal(20, 0)),
        )
        yield pl.concat([lines, twice, ghosts]).drop("i")


def run_matcher(n: int, page: int) -> dict[str, int]:
    from paybridge.reconcile import Codes, Expectations, LedgerColumns, match
    from paybridge.reconcile.columns import D365Columns, PayTraceColumns

    codes = Codes()
    pt, d365 = PayTraceColumns(codes), D365Columns(codes)
    for part in paytrace_pages(n, page):
        pt.extend_page(part)
    for part in d365_pages(n, page):
        d365.extend_page(part)
    d365.mark_posted(POSTED_JOURNALS)
    accounts = {codes.code(f"C{c:05d}"): codes.code(f"US-{c:05d}") for c in range(CUSTOMERS)}
    result = match(pt, d365, LedgerColumns(codes), Expectations(accounts=accounts))
    return {cls.name.lower(): count for cls, count in result.counts.items() if count}


_DUCKDB_CLASSES = """
WITH lines AS (
  SELECT CAST(regexp_extract(payment_id, '^PT-([0-9]+)-', 1) AS BIGINT) AS tx,
         regexp_extract(payment_id, '-([a-z]+)$', 1) AS kind, *
  FROM d365),
keyed AS (
  SELECT tx, kind, count(*) AS n, any_value(credit) AS credit, any_value(debit) AS debit,
         any_value(currency) AS currency, any_value(account) AS account,
         any_value(invoice) AS invoice, any_value(journal) AS journal
  FROM lines GROUP BY tx, kind)
SELECT CASE
    WHEN k.n IS NULL THEN 'missing_in_d365'
    WHEN k.n > 1 THEN 'duplicated_in_d365'
    WHEN k.currency <> p.currency
      OR k.credit <> CASE WHEN p.kind = 'refund' THEN 0 ELSE p.amount END
      OR k.debit <> CASE WHEN p.kind = 'refund' THEN p.amount ELSE 0 END
      THEN 'amount_mismatch'
    WHEN lower(k.account) <> lower('US-' || substr(p.customer, 2))
      OR (k.invoice <> '' AND lower(k.invoice) <> lower(p.invoice)) THEN 'wrong_party'
    WHEN k.journal NOT IN (SELECT journal FROM posted) THEN 'unposted_in_d365'
    ELSE 'matched' END AS class, count(*) AS n
FROM pt p LEFT JOIN keyed k USING (tx, kind)
GROUP BY class
UNION ALL
SELECT 'not_in_paytrace', count(DISTINCT l.tx) FROM lines l ANTI JOIN pt p USING (tx, kind)
"""


def run_duckdb(n: int, page: int) -> dict[str, int]:
    import duckdb

    con = duckdb.connect()
    first = True
    for pages, table in ((paytrace_pages(n, page), "pt"), (d365_pages(n, page), "d365")):
        first = True
        for part in pages:
            arrow = part.to_arrow()  # noqa: F841 - read by name in the SQL below
            sql = f"CREATE TABLE {table} AS" if first else f"INSERT INTO {table}"
            con.execute(f"{sql} SELECT * FROM arrow")  # noqa: S608 - our own table names
            first = False
    con.execute("CREATE TABLE posted (journal VARCHAR)")
    con.executemany("INSERT INTO posted VALUES (?)", [[j] for j in sorted(POSTED_JOURNALS)])
    rows = con.execute(_DUCKDB_CLASSES).fetchall()
    return {str(cls): int(count) for cls, count in rows if count}


def run_baseline(n: int, page: int) -> dict[str, int]:
    """What one would write first: a dict of D365 rows by PaymentId, then a lookup per transaction."""
    lines: dict[str, list[tuple[object, ...]]] = {}
    for part in d365_pages(n, page):
        for line in part.iter_rows():
            lines.setdefault(str(line[0]), []).append(line)
    counts: Counter[str] = Counter()
    for part in paytrace_pages(n, page):
        for tx, kind, amount, currency, customer, invoice, _batch, _brand in part.iter_rows():
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
            elif str(account).casefold() != f"US-{customer[1:]}".casefold() or (
                marked and str(marked).casefold() != invoice.casefold()
            ):
                counts["wrong_party"] += 1
            elif journal not in POSTED_JOURNALS:
                counts["unposted_in_d365"] += 1
            else:
                counts["matched"] += 1
    counts["not_in_paytrace"] += len(lines)  # each unexplained transaction's lines
    return dict(counts)


def run_rows(n: int, page: int) -> dict[str, int]:
    rows = 0
    for pages in (d365_pages(n, page), paytrace_pages(n, page)):
        for part in pages:
            rows += sum(1 for _ in part.iter_rows())
    return {"rows": rows}


def run_generator(n: int, page: int) -> dict[str, int]:
    rows = sum(len(p) for p in paytrace_pages(n, page)) + sum(len(p) for p in d365_pages(n, page))
    return {"rows": rows}


def child(which: str, n: int, page: int) -> None:
    work = {
        "matcher": run_matcher,
        "duckdb": run_duckdb,
        "baseline": run_baseline,
        "generate": run_generator,
        "rows": run_rows,
    }[which]
    if which == "matcher":
        import paybridge.reconcile  # noqa: F401 - import time is not matching time
    if which == "duckdb":
        import duckdb  # noqa: F401
    cpu_before = time.process_time()
    started = time.perf_counter()
    counts = work(n, page)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before  # all threads of the process, whatever else runs
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "counts": counts}))


def measure(which: str, n: int, page: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, "--rows", str(n), "--page", str(page)],
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
    parser.add_argument("--page", type=int, default=100_000, help="rows per page")
    parser.add_argument("--only", default=",".join(ENGINES), help="engines to run, comma-separated")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.page)
        return 0
    wanted = [e for e in ENGINES if e in args.only.split(",")]
    results = {which: measure(which, args.rows, args.page) for which in wanted}
    print(
        f"rows: {args.rows:,} PayTrace transactions, ~{args.rows:,} D365 lines, pages of {args.page:,}"
    )
    print(f"{'':<22}{'seconds':>9}{'cpu s':>8}{'cpu net of gen':>16}{'peak MB':>10}")
    gen = _num(results["generate"], "cpu") if "generate" in results else 0.0
    for which, r in results.items():
        s, c, mb = _num(r, "seconds"), _num(r, "cpu"), _num(r, "peak_mb")
        print(f"{which:<22}{s:>9.2f}{c:>8.2f}{max(c - gen, 0):>16.2f}{mb:>10.0f}")
    base = results.get("baseline")
    for which in ("matcher", "duckdb"):
        if which in results and base is not None:
            mine = results[which]
            print(
                f"baseline/{which}: wall {_num(base, 'seconds') / _num(mine, 'seconds'):.2f}x, "
                f"cpu {_num(base, 'cpu') / _num(mine, 'cpu'):.2f}x (net of generation "
                f"{(_num(base, 'cpu') - gen) / max(_num(mine, 'cpu') - gen, 1e-9):.2f}x), "
                f"peak memory {_num(mine, 'peak_mb') / _num(base, 'peak_mb'):.2f} of the baseline's"
            )
    if base is not None and "rows" in results and "matcher" in results:
        dict_only = _num(base, "cpu") - _num(results["rows"], "cpu")
        print(
            f"baseline's dict join alone (net of building its Python rows) / matcher net of "
            f"generation: cpu {dict_only / max(_num(results['matcher'], 'cpu') - gen, 1e-9):.2f}x"
        )
    counted = {w: r["counts"] for w, r in results.items() if w not in ("generate", "rows")}
    first = next(iter(counted.values()), {})
    print(f"classes: {json.dumps(first, sort_keys=True)}")
    disagree = [w for w, c in counted.items() if c != first]
    for which in disagree:
        print(f"DISAGREE: {which} says {json.dumps(counted[which], sort_keys=True)}")
    return 1 if disagree else _targets(args, results)


def _targets(args: argparse.Namespace, results: dict[str, dict[str, object]]) -> int:
    mine = results.get("matcher")
    if mine is None:
        return 0
    seconds, mb = _num(mine, "seconds"), _num(mine, "peak_mb")
    limit = 2.0 * args.rows / 1_000_000 if args.rows <= 1_000_000 else 30.0 * args.rows / 10_000_000
    missed = [f"{seconds:.2f} s >= {limit:.1f} s"] if seconds >= limit else []
    if mb >= 2048:
        missed.append(f"peak {mb:.0f} MB >= 2048 MB")
    base = results.get("baseline")
    if base is not None and _num(base, "cpu") < 3 * _num(mine, "cpu"):
        missed.append(f"only {_num(base, 'cpu') / _num(mine, 'cpu'):.2f}x the baseline's CPU")
    print(
        f"targets (< {limit:.1f} s, < 2048 MB, >= 3x the baseline): " + ("; ".join(missed) or "met")
    )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
