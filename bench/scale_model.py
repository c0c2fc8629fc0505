"""Scale model: principals, workers and PostgreSQL for N companies x M payments/day with peaks, from measured costs.

Usage: python bench/scale_model.py [--measured scale.json] [--companies 200]
       [--payments-per-company 50000] [--peak 20] [--poll-seconds 5] [--retention-days 90]
       [--d365-seconds-per-line 0.05] [--markdown]

Costs per payment come from ``bench/scale.py --json FILE`` (its "backlog 1 worker" run, else its
first run): engine CPU ms per payment, D365 requests per payment, store bytes and row writes per
payment. Without ``--measured`` the figures measured on this project's 2-core machine are used
(printed, with the command that measured them). The poller's cost is measured here, in this
process: PayTrace exports whole days, so every poll re-reads its merchant account's day so far;
the CPU to read one export record (JSON, validation, creation time) is timed on records the
PayTrace sandbox produced.

What is an assumption, not a measurement, is printed as one: D365's execution seconds per journal
line (the sandbox's emulated work is not F&O's), the head-room kept (70% of a core, 80% of a
principal's budget), that every company has its own PayTrace merchant account, and the IOPS
estimate (one WAL flush per commit before group commit, one page write per 8 KB written).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Move this folder behind the stdlib on sys.path: bench/queue.py would shadow the stdlib's queue.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Measured with `python bench/scale.py --backlog 3000 --concurrency 4` (the backlog row) on the
# 2-core machine, quiet (see README "Scaling"); replaced by --measured.
DEFAULTS = {"engine_ms": 0.60, "per_payment": 0.0323, "store_bytes_per_payment": 5841.0,
            "row_writes_per_payment": 6.8, "commits_per_payment": 0.05}  # fmt: skip
CORE_USE = 0.7  # of a core a worker process may use at peak
BUDGET_USE = 0.8  # of a principal's F&O budget PayBridge plans to use
PRINCIPAL_REQUESTS_PER_S = 6000 / 300  # F&O's documented user-based limit
PRINCIPAL_EXEC_PER_S = 1200 / 300


@dataclass(frozen=True)
class Costs:
    engine_ms: float
    per_payment: float
    store_bytes_per_payment: float
    row_writes_per_payment: float
    commits_per_payment: float
    poll_record_ms: float


def measured(path: Path | None) -> dict[str, float]:
    if path is None:
        return dict(DEFAULTS)
    runs: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    run = next((r for r in runs if r["label"].startswith("backlog")), runs[0])
    approved = max(1, int(run["approved"]))
    return {
        "engine_ms": float(run["engine_ms"]),
        "per_payment": float(run["per_payment"]),
        "store_bytes_per_payment": run["store_bytes"] / approved,
        "row_writes_per_payment": run["row_writes"] / approved,
        "commits_per_payment": DEFAULTS["commits_per_payment"],
    }


async def export_records(count: int) -> dict[str, Any]:
    """A PayTrace export of ``count`` records, cloned from records the sandbox produced."""
    import httpx

    from paybridge_sandbox.paytrace import create_app

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()),
                                 base_url="http://pt") as http:  # fmt: skip
        login = {"grant_type": "password", "username": "sandbox", "password": "sandbox"}
        token = (await http.post("/oauth/token", data=login)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        card = {"number": "4012000098765439", "expiration_month": 12, "expiration_year": 2030}
        for n in range(5):
            sale = {"integrator_id": "SANDBOX00001", "amount": f"1{n}.25", "credit_card": card,
                    "invoice_id": f"WEB-{n}", "billing_address": {"name": "A B", "zip": "98101"}}  # fmt: skip
            await http.post("/v1/transactions/sale/keyed", json=sale, headers=auth)
        day = time.strftime("%m/%d/%Y")
        body = {"integrator_id": "SANDBOX00001", "start_date": day, "end_date": day}
        export = (await http.post("/v1/transactions/export/by_date_range", json=body,
                                  headers=auth)).json()  # fmt: skip
    seeds = export["transactions"]
    clones = [{**seeds[n % len(seeds)], "transaction_id": 10_000_000 + n} for n in range(count)]
    return {**export, "transactions": clones}


def poll_record_ms(count: int = 20_000) -> float:
    """CPU ms to read again one record of an export an earlier poll read (each poll reads the
    day so far): JSON, the comparison with the last export's record (the client validates only
    what changed), its creation time."""
    from paybridge.connectors.paytrace.responses import ExportMemo, ExportResponse

    raw = json.dumps(asyncio.run(export_records(count)))
    memo: ExportMemo = {}
    ExportResponse.model_validate(json.loads(raw, parse_float=Decimal), context={"records": memo})
    began = time.process_time()
    reply = ExportResponse.model_validate(
        json.loads(raw, parse_float=Decimal), context={"records": memo}
    )
    for record in reply.transactions:
        record.created_at_latest("America/Los_Angeles")
    return 1000 * (time.process_time() - began) / count


def model(args: argparse.Namespace, c: Costs) -> list[tuple[str, str, str]]:
    day = args.companies * args.payments_per_company
    mean = day / 86_400
    peak = mean * args.peak
    engine_cores = peak * c.engine_ms / 1000
    # Every account's poll re-reads its day so far; at the end of a peak day that is the day.
    records_per_poll = args.payments_per_company * (1 if args.accounts == args.companies else
                                                    args.companies / args.accounts)  # fmt: skip
    poll_cores = args.accounts * records_per_poll * c.poll_record_ms / 1000 / args.poll_seconds
    workers = math.ceil((engine_cores + poll_cores) / CORE_USE)
    requests = peak * c.per_payment
    execution = peak * args.d365_seconds_per_line
    by_requests = math.ceil(requests / (PRINCIPAL_REQUESTS_PER_S * BUDGET_USE))
    by_execution = math.ceil(execution / (PRINCIPAL_EXEC_PER_S * BUDGET_USE))
    principals = max(1, by_requests, by_execution)
    size = day * args.retention_days * c.store_bytes_per_payment
    writes = peak * c.row_writes_per_payment
    iops = peak * c.commits_per_payment + writes * 200 / 8192  # ~200 bytes a row change
    return [
        ("payments per day", f"{day:,.0f}", f"{args.companies} x {args.payments_per_company:,}"),
        ("mean / peak payments/s", f"{mean:,.0f} / {peak:,.0f}", f"peak = {args.peak}x mean"),
        ("engine CPU at peak", f"{engine_cores:.1f} cores", f"{c.engine_ms:.2f} ms/payment"),
        ("poller CPU at peak", f"{poll_cores:.1f} cores",
         f"{args.accounts} accounts, {records_per_poll:,.0f} records a poll (the day at its "
         f"end) every {args.poll_seconds:g} s, {c.poll_record_ms * 1000:.1f} us a record"),
        ("worker processes", f"{workers}", f"one core each, {CORE_USE:.0%} used at peak"),
        ("D365 requests/s at peak", f"{requests:,.1f}", f"{c.per_payment:.4f} per payment"),
        ("D365 execution s/s at peak", f"{execution:,.1f}",
         f"ASSUMED {args.d365_seconds_per_line} s per journal line"),
        ("D365 principals", f"{principals}",
         f"by requests {by_requests}, by execution {by_execution}; {BUDGET_USE:.0%} of 20 req/s "
         "and 4 s/s each"),
        ("PostgreSQL size", f"{size / 1e9:,.0f} GB",
         f"{c.store_bytes_per_payment:,.0f} B/payment x {args.retention_days} days kept"),
        ("PostgreSQL row writes/s at peak", f"{writes:,.0f}",
         f"{c.row_writes_per_payment:.1f} per payment"),
        ("PostgreSQL IOPS at peak (estimate)", f"{iops:,.0f}",
         f"ASSUMED {c.commits_per_payment} commits/payment, ~200 B a row change"),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", type=Path, default=None)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--payments-per-company", type=int, default=50_000)
    parser.add_argument("--peak", type=float, default=20.0)
    parser.add_argument("--accounts", type=int, default=None,
                        help="PayTrace merchant accounts (default: one per company)")  # fmt: skip
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument("--retention-days", type=int, default=90)
    parser.add_argument("--d365-seconds-per-line", type=float, default=0.05)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    args.accounts = args.accounts or args.companies
    base = measured(args.measured)
    costs = Costs(**base, poll_record_ms=poll_record_ms())
    source = args.measured or "the defaults measured on this machine (DEFAULTS in this file)"
    print(f"costs from {source}: {costs}")
    rows = model(args, costs)
    if args.markdown:
        print("| quantity | value | from |\n|---|---|---|")
        for name, value, why in rows:
            print(f"| {name} | {value} | {why} |")
    else:
        for name, value, why in rows:
            print(f"{name:<36} {value:>14}   {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
