"""Workers on several machines: 1, 2 and 4 `paybridge worker` processes on one PostgreSQL, against D365's limits.

Usage: python bench/scale.py [--workers 1,2,4] [--payments 1500] [--rate 200] [--batch-size 200]
       [--concurrency 1]
       [--store-url postgresql+psycopg://...] [--tight-payments 1200] [--no-tight] [--json FILE]

Every run starts fresh: both sandboxes as `paybridge-sandbox` processes (D365 with service
protection per principal switched on), an empty PostgreSQL schema (`paybridge db upgrade`), N
`paybridge worker` processes (each its own name: host and pid) from one settings file, and a
storefront in this process selling stored PayTrace profiles at ``--rate``/s while the workers run.
The engine sees the sales only through PayTrace's exports. A run ends when the ledger holds every
approved sale's D365 line; then D365 is read back: every sale must have exactly one line.

Two sets of runs:

1. ``fno``: D365 with F&O's documented limits (6,000 requests and 1,200 s of execution per 300 s,
   52 concurrent, per principal). They do not bind at this scale: the table shows what does.
2. ``tight``: the same limits scaled down (``--tight-requests`` per ``--tight-window`` seconds,
   emulated F&O work of 1 ms per operation, worker batches of ``--tight-batch``), so D365's
   budget is the bottleneck within a minute; a backlog drained by 1 worker, 2 workers, and 2
   workers with 2 principals (app registrations).

Printed per run: payments/s (first approval to last D365 line), p50/p99 approval->ledger latency,
D365 requests per payment (counted by the D365 sandbox), the payments/s D365's limits allow at
that cost per payment and the fraction of it reached, the CPU seconds of the workers (engine), the
sandboxes and the storefront, and engine ms of CPU per payment. "bound by" names what held the
run back: D365's budget (>= 85% of it used), the storefront (the engine kept up with the offered
sales), or PayBridge. The 1-worker run of each set is the baseline of the ratios, measured in the
same run. This is a 2-core machine shared by every process of the run (and by other users):
figures are noisy, ratios matter more than absolutes.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Move this folder behind the stdlib on sys.path: bench/queue.py would shadow the stdlib's queue.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
DEFAULT_STORE = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dscale_bench"
)
SECRETS = {"PAYTRACE_USERNAME": "sandbox", "PAYTRACE_PASSWORD": "sandbox",
           "PAYTRACE_INTEGRATOR_ID": "SANDBOX00001", "DYNAMICS_CLIENT_SECRET": "sandbox-secret",
           "DYNAMICS_CLIENT_SECRET_2": "sandbox-secret-2"}  # fmt: skip
ACCOUNTS = [f"US-{n:03d}" for n in range(1, 11)]  # seeded D365 customers; the profiles share ids
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Limits:
    requests: int
    window: float
    execution: float
    concurrent: int
    work_ms: float = 0.0

    def flags(self) -> list[str]:
        return ["--throttle-requests", str(self.requests), "--throttle-window", str(self.window),
                "--throttle-execution", str(self.execution), "--throttle-concurrent",
                str(self.concurrent), "--work-ms-per-operation", str(self.work_ms)]  # fmt: skip


FNO = Limits(6000, 300.0, 1200.0, 52)


@dataclass
class Result:
    label: str
    workers: int
    principals: int
    approved: int = 0
    offered_rate: float = 0.0
    rate: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    d365_requests: int = 0
    d365_exec_seconds: float = 0.0
    throttled: int = 0
    limit: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    missing: int = 0
    doubled: int = 0
    bound_by: str = ""
    seconds: float = 0.0
    load: float = 0.0  # the machine's 1-minute load average at the end
    store_bytes: int = 0  # the schema's tables and indexes after the run
    row_writes: int = 0  # rows inserted, updated and deleted in the schema

    @property
    def per_payment(self) -> float:
        return self.d365_requests / self.approved if self.approved else 0.0

    @property
    def engine_ms(self) -> float:
        return 1000 * self.cpu.get("workers", 0.0) / self.approved if self.approved else 0.0

    def line(self) -> str:
        fraction = self.rate / self.limit if self.limit else 0.0
        cpu = " ".join(f"{k} {v:.1f}s" for k, v in self.cpu.items())
        return (
            f"{self.label:<22} {self.approved:>5} pay {self.rate:7.1f}/s  p50 {self.p50:5.2f}s "
            f"p99 {self.p99:5.2f}s  {self.per_payment:.4f} req/pay  429s {self.throttled:<3} "
            f"D365 allows {self.limit:8.1f}/s  reached {fraction:6.1%}  engine "
            f"{self.engine_ms:.2f} ms CPU/pay  [{cpu}]  bound by {self.bound_by}  "
            f"missing {self.missing} doubled {self.doubled}"
        )


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBRIDGE__")}
    env.update(SECRETS, PYTHONUNBUFFERED="1")
    with log.open("ab") as handle:
        return subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of one process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_until(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench/scale.py: {what} not within {timeout:.0f}s")


# --- one run -----------------------------------------------------------------------------------


def settings(tmp: Path, pt: str, d365: str, store: str, workers: int, principals: int,
             limits: Limits, batch: int, poll: float) -> Path:  # fmt: skip
    extra = [{"client_id": "sandbox-client-2", "client_secret": "env:DYNAMICS_CLIENT_SECRET_2"}]
    data = {
        "store": {"url": store, "auto_upgrade": False},
        "paytrace": {"base_url": pt, "username": "env:PAYTRACE_USERNAME",
                     "password": "env:PAYTRACE_PASSWORD",
                     "integrator_id": "env:PAYTRACE_INTEGRATOR_ID",
                     "poll_interval_seconds": poll, "timeout_seconds": 30},
        "dynamics": {"base_url": d365, "tenant": "sandbox-tenant", "client_id": "sandbox-client",
                     "client_secret": "env:DYNAMICS_CLIENT_SECRET", "login_redirect": d365,
                     "timeout_seconds": 60, "customer_match": "xref_or_same_id",
                     "principals": extra[: principals - 1],
                     # Each worker process takes its part of every principal's budget.
                     "service_protection": {"requests": limits.requests,
                                            "window_seconds": limits.window,
                                            "execution_seconds": limits.execution,
                                            "concurrent": limits.concurrent,
                                            "share": 1 / workers}},
        "worker": {"batch_size": batch, "idle_seconds": 0.05},
        "poller": {"overlap_seconds": 60, "state_interval_seconds": 10},
        "reconcile": {"schedule_at": None},
        "metrics": {"require_key": False},
    }  # fmt: skip
    path = tmp / "paybridge.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def fresh_schema(store: str) -> None:
    schema = store.split("search_path%3D", 1)[1].split("&")[0]
    engine = create_engine(store.split("?")[0])
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


class Shop:
    """The storefront: stored profiles charged over PayTrace's v1 API at a set rate."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.approved: dict[str, float] = {}
        self.token = ""
        self.seconds = 0.0

    def body(self, extra: dict[str, Any]) -> dict[str, Any]:
        return {"integrator_id": "SANDBOX00001", **extra}

    def open(self) -> None:
        """Log in and store one profile per D365 account (the card goes to PayTrace only)."""
        login = {"grant_type": "password", "username": "sandbox", "password": "sandbox"}
        card = {"number": "4012000098765439", "expiration_month": 12, "expiration_year": 2030}
        with httpx.Client(base_url=self.url, timeout=60) as http:
            self.token = http.post("/oauth/token", data=login).json()["access_token"]
            for account in ACCOUNTS:
                profile = {"customer_id": account, "credit_card": card,
                           "billing_address": {"name": f"Shopper {account}", "zip": "98101"}}  # fmt: skip
                http.post("/v1/customer/create", json=self.body(profile),
                          headers={"Authorization": f"Bearer {self.token}"}).raise_for_status()  # fmt: skip

    async def sell(self, payments: int, rate: float) -> None:
        began, gate = time.monotonic(), asyncio.Semaphore(32)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.url, timeout=60, headers=headers) as http:

            async def one(n: int) -> None:
                async with gate:
                    sale = {"customer_id": ACCOUNTS[n % 10], "invoice_id": f"WEB-{n + 1:07d}",
                            "amount": f"{10 + n % 90}.{n % 100:02d}"}  # fmt: skip
                    reply = await http.post("/v1/transactions/sale/by_customer",
                                            json=self.body(sale))  # fmt: skip
                    if reply.json().get("success"):
                        self.approved[str(reply.json()["transaction_id"])] = time.time()

            tasks = []
            for n in range(payments):
                delay = began + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(n)))
            await asyncio.gather(*tasks)
        self.seconds = time.monotonic() - began


def ledger_times(store: str) -> dict[str, float]:
    engine = create_engine(store)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT event_key, at FROM ledger WHERE step = 'd365.payment_line'")
        )
        found = {key.split(":")[1]: at.timestamp() for key, at in rows}
    engine.dispose()
    return found


def store_usage(store: str) -> tuple[int, int]:
    """Bytes of the schema's relations and the rows written to them (PostgreSQL's statistics)."""
    schema = store.split("search_path%3D", 1)[1].split("&")[0]
    engine = create_engine(store)
    with engine.connect() as conn:
        size = conn.execute(text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"
        ), {"s": schema}).scalar_one()  # fmt: skip
        writes = conn.execute(text(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
            "WHERE schemaname = :s"
        ), {"s": schema}).scalar_one()  # fmt: skip
    engine.dispose()
    return int(size), int(writes)


def d365_usage(url: str) -> dict[str, Any]:
    state = httpx.get(f"{url}/_sandbox/state", timeout=30).json()
    principals: dict[str, Any] = (state.get("throttle") or {}).get("principals", {})
    return principals


def used_since(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    keys = ("requests_total", "execution_seconds_total", "refused")
    return {
        client: {k: float(now[k]) - float(before.get(client, {}).get(k, 0)) for k in keys}
        for client, now in after.items()
    }


def d365_lines(url: str) -> Counter[str]:
    httpx.post(f"{url}/_sandbox/throttle", json={"off": True}, timeout=30)  # the audit is no load
    login = {"grant_type": "client_credentials", "client_id": "sandbox-client",
             "client_secret": "sandbox-secret", "scope": f"{url}/.default"}  # fmt: skip
    token = httpx.post(f"{url}/sandbox-tenant/oauth2/v2.0/token", data=login).json()["access_token"]
    counts: Counter[str] = Counter()
    next_url: str | None = f"{url}/data/CustomerPaymentJournalLines?cross-company=true"
    while next_url:
        page = httpx.get(next_url, headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
        counts.update(str(row.get("PaymentReference", "")) for row in page["value"])
        next_url = page.get("@odata.nextLink")
    return counts


def run(args: argparse.Namespace, label: str, workers: int, principals: int, limits: Limits,
        payments: int, rate: float, batch: int, backlog: bool = False) -> Result:  # fmt: skip
    result = Result(label, workers, principals)
    fresh_schema(args.store_url)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        tmp = Path(folder)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            pt_port, d_port = free_port(), free_port()
            pt_url, d_url = f"http://{HOST}:{pt_port}", f"http://{HOST}:{d_port}"
            procs.append(start([str(BIN / "paybridge-sandbox"), "paytrace", "--port", str(pt_port)],
                               tmp / "paytrace.log"))  # fmt: skip
            procs.append(start([str(BIN / "paybridge-sandbox"), "dynamics", "--port", str(d_port),
                                "--extra-clients", "1", *limits.flags()], tmp / "dynamics.log"))  # fmt: skip
            wait_until(
                "PayTrace sandbox", lambda: httpx.get(f"{pt_url}/_sandbox/state/summary"), 30
            )
            wait_until("D365 sandbox", lambda: httpx.get(f"{d_url}/_sandbox/state"), 30)
            poll = args.backlog_poll_seconds if backlog else args.poll_seconds
            config = settings(
                tmp, pt_url, d_url, args.store_url, workers, principals, limits, batch, poll
            )
            subprocess.run([str(BIN / "paybridge"), "db", "upgrade", "--config", str(config)],
                           check=True, capture_output=True, env={**os.environ, **SECRETS})  # fmt: skip
            shop = Shop(pt_url)
            shop.open()
            if backlog:  # the sales first: the workers' capacity, from their start
                asyncio.run(shop.sell(payments, rate))
            logs = [tmp / f"worker-{n}.log" for n in range(workers)]
            command = [str(BIN / "paybridge"), "worker", "--config", str(config),
                       "--concurrency", str(args.concurrency)]  # fmt: skip
            if not args.check:  # the access check's calls would spend the tight runs' budget
                command.append("--skip-check")
            profiled = [sys.executable, "-m", "cProfile", "-o", str(args.profile), *command]
            engines = [start(profiled if args.profile and n == 0 else command, log)
                       for n, log in enumerate(logs)]  # fmt: skip
            procs += engines
            wait_until(
                "workers ready", lambda: all("worker ready" in p.read_text() for p in logs), 180
            )
            tracked = {"workers": engines, "sandboxes": procs[:2]}
            before = {k: sum(cpu_seconds(p.pid) for p in v) for k, v in tracked.items()}
            at_start = d365_usage(d_url)  # the workers' start-up checks are not the payments'

            shop_before, began = sum(os.times()[:2]), time.time()
            if not backlog:
                asyncio.run(shop.sell(payments, rate))
            result.cpu["storefront"] = sum(os.times()[:2]) - shop_before
            result.approved = len(shop.approved)
            result.offered_rate = result.approved / shop.seconds
            done = wait_until("every sale in the ledger",
                              lambda: (t := ledger_times(args.store_url)) and
                              all(tx in t for tx in shop.approved) and t, args.timeout)  # fmt: skip
            for key, group in tracked.items():
                result.cpu[key] = sum(cpu_seconds(p.pid) for p in group) - before[key]
            usage = used_since(at_start, d365_usage(d_url))
            measure(result, shop.approved, done, usage, limits, began if backlog else None)
            result.store_bytes, result.row_writes = store_usage(args.store_url)
            lines = d365_lines(d_url)
            result.missing = sum(1 for tx in shop.approved if lines[tx] == 0)
            result.doubled = sum(n - 1 for tx, n in lines.items() if tx in shop.approved and n > 1)
        finally:
            stop(procs)
    return result


def measure(result: Result, approved: dict[str, float], done: dict[str, float],
            usage: dict[str, Any], limits: Limits, began: float | None) -> None:  # fmt: skip
    """Figures of a run; ``began``: a backlog's, timed from the workers' start."""
    latencies = sorted(done[tx] - max(at, began or at) for tx, at in approved.items())
    first = began if began is not None else min(approved.values())
    last = max(done[tx] for tx in approved)
    result.seconds = last - first
    result.rate = result.approved / result.seconds
    result.load = os.getloadavg()[0]
    result.p50 = statistics.median(latencies)
    result.p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    result.d365_requests = round(sum(u["requests_total"] for u in usage.values()))
    result.d365_exec_seconds = sum(float(u["execution_seconds_total"]) for u in usage.values())
    result.throttled = round(sum(u["refused"] for u in usage.values()))
    result.limit = d365_allows(result, limits)
    result.bound_by = bound_by(result, began is None)


def bound_by(r: Result, live: bool) -> str:
    """What held the run back: D365's budget, the offered sales, a process group's CPU, or the
    machine (every group of the run below 0.8 of a core while the load average is high)."""
    if r.limit and r.rate >= 0.85 * r.limit:
        return "D365's budget"
    if live and r.rate >= 0.9 * r.offered_rate:
        return "the storefront (offered load)"
    per_worker = {k: v / r.seconds / (r.workers if k == "workers" else 2 if k == "sandboxes" else 1)
                  for k, v in r.cpu.items()}  # fmt: skip
    busiest = max(per_worker, key=lambda k: per_worker[k])
    if per_worker[busiest] >= 0.8:
        return f"{busiest} CPU ({per_worker[busiest]:.2f} core each)"
    return (f"the shared machine (load {r.load:.0f} on {os.cpu_count()} cores; busiest: "
            f"{busiest} {per_worker[busiest]:.2f} core each)")  # fmt: skip


def d365_allows(result: Result, limits: Limits) -> float:
    """Payments/s D365's limits allow the principals at this run's cost per payment."""
    if not result.approved or not result.d365_requests:
        return 0.0
    by_requests = result.principals * limits.requests / limits.window / result.per_payment
    exec_per_payment = result.d365_exec_seconds / result.approved
    by_execution = (result.principals * limits.execution / limits.window / exec_per_payment
                    if exec_per_payment else float("inf"))  # fmt: skip
    return min(by_requests, by_execution)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--payments", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="worker loops in each worker process (paybridge worker "
                             "--concurrency): loops of one process share its principals")  # fmt: skip
    parser.add_argument("--store-url", default=DEFAULT_STORE)
    parser.add_argument("--tight", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--tight-payments", type=int, default=1200)
    parser.add_argument("--tight-rate", type=float, default=120.0)
    parser.add_argument("--tight-requests", type=int, default=20)
    parser.add_argument("--tight-window", type=float, default=10.0)
    parser.add_argument("--tight-batch", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--backlog", type=int, default=0,
                        help="first: a backlog of this many sales drained by 1 worker "
                        "(engine CPU per payment without idle time)")  # fmt: skip
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=False,
                        help="start the workers with their access check (off: --skip-check)")  # fmt: skip
    parser.add_argument("--poll-seconds", type=float, default=0.5,
                        help="paytrace.poll_interval_seconds of the live runs (latency)")  # fmt: skip
    parser.add_argument("--backlog-poll-seconds", type=float, default=5.0,
                        help="paytrace.poll_interval_seconds of the backlog run (the product's "
                        "default)")  # fmt: skip
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the first worker under cProfile, its stats to this file")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    if "search_path%3D" not in args.store_url:
        parser.error("--store-url must name its own schema: ...?options=-csearch_path%3D<schema>")
    results = []
    if args.backlog:
        results.append(run(args, "backlog 1 worker", 1, 1, FNO, args.backlog, args.rate * 2,
                           args.batch_size, backlog=True))  # fmt: skip
        print(results[-1].line(), flush=True)
    print(f"fno: F&O's limits per principal {FNO}; offered {args.rate:.0f} sales/s", flush=True)
    for n in (int(x) for x in args.workers.split(",") if x):
        results.append(run(args, f"fno {n} worker(s)", n, 1, FNO, args.payments, args.rate,
                           args.batch_size))  # fmt: skip
        print(results[-1].line(), flush=True)
    if args.tight:
        tight = Limits(args.tight_requests, args.tight_window, args.tight_requests * 2.0,
                       4, work_ms=1.0)  # fmt: skip
        print(f"tight: {tight} per principal; offered {args.tight_rate:.0f} sales/s", flush=True)
        for workers, principals in ((1, 1), (2, 1), (2, 2)):
            loops = f"x{args.concurrency}" if args.concurrency > 1 else ""
            label = f"tight {workers}w{loops} {principals}p"
            # A backlog: D365's budget, not the storefront or the poller on a busy machine,
            # is what the drain meets.
            results.append(run(args, label, workers, principals, tight, args.tight_payments,
                               args.tight_rate, args.tight_batch, backlog=True))  # fmt: skip
            print(results[-1].line(), flush=True)
    summarize(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"engine_ms": r.engine_ms,
                             "per_payment": r.per_payment} for r in results], indent=2))  # fmt: skip
        print(f"results in {args.json} (bench/scale_model.py --measured {args.json})")
    return 0 if all(r.missing == 0 and r.doubled == 0 for r in results) else 1


def summarize(results: list[Result]) -> None:
    fno = [r for r in results if r.label.startswith("fno")]
    if fno:
        base = fno[0]
        for r in fno[1:]:
            print(f"ratio {r.label} vs {base.label}: {r.rate / base.rate:.2f}x payments/s")
    tight = [r for r in results if r.label.startswith("tight")]
    for r in tight:
        print(f"{r.label}: {r.rate / r.limit:.1%} of what D365's budget allows "
              f"({'ok' if r.rate >= 0.9 * r.limit else 'MISS'} >= 90%)")  # fmt: skip
    lost = sum(r.missing + r.doubled for r in results)
    print("every line once" if lost == 0 else f"MISS: {lost} lines missing or doubled")


if __name__ == "__main__":
    sys.exit(main())
