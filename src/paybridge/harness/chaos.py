"""`paybridge chaos`: prove exactly-once through faults, throttling and SIGKILLed workers.

The harness starts both sandboxes as separate processes (``paybridge-sandbox``), switches their
fault profiles on, runs the engine as a separate ``paybridge worker`` process and kills it with
SIGKILL at random moments, restarting it each time, while a storefront makes payments, voids and
refunds. When the storefront is done, faults stop (outages end) and the backlog drains; then it
reads both sandboxes and checks the invariant:

* every approved PayTrace transaction state (sale, refund, void of a sale) is in D365 exactly
  once, with the right amount and sign (``lost``, ``duplicated``);
* nothing in D365 lacks a PayTrace transaction (counted in ``duplicated``);
* no storefront charge request produced two PayTrace charges (``double_charges``).

Nothing here imports the sandboxes: they are other programs, reached over HTTP only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import text

from paybridge.app.clients import msal_provider
from paybridge.app.settings import Settings
from paybridge.app.store import Store, open_store
from paybridge.clock import SystemClock
from paybridge.connectors.dynamics import DynamicsClient, F, Query
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
    ExportByDateRangeRequest,
    PayTraceClient,
    TransactionRecord,
    TransactionRefundRequest,
    VoidRequest,
)
from paybridge.errors import DeclinedError, InDoubtError, PayBridgeError
from paybridge.harness import chaos_charges
from paybridge.security.cardguard import card_numbers_in_text
from paybridge.store import open_engine
from paybridge.store.database import table_names

BIN = Path(sys.executable).parent
SECRETS = {
    "PAYTRACE_USERNAME": "sandbox",
    "PAYTRACE_PASSWORD": "sandbox",
    "PAYTRACE_INTEGRATOR_ID": "SANDBOX00001",
    "DYNAMICS_CLIENT_SECRET": "sandbox-secret",
}


@dataclass
class ChaosReport:
    payments: int
    kills: int
    faults: int
    in_doubt_resolved: int
    lost: int
    duplicated: int
    double_charges: int
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        crashes = int(self.detail.get("worker_crashes", 0))
        cards = int(self.detail.get("card_numbers_kept", 0))
        charges = int(self.detail.get("api_wrong_outcomes", 0)) + int(
            self.detail.get("api_unresolved", 0)
        )
        clean = not crashes and not cards and not charges
        return self.lost == 0 and self.duplicated == 0 and self.double_charges == 0 and clean

    def line(self) -> str:
        data = asdict(self)
        data.pop("detail")
        return json.dumps(data, separators=(", ", ": "))


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(url: str, deadline: float = 30.0) -> None:
    start = time.monotonic()
    async with httpx.AsyncClient() as client:
        while time.monotonic() - start < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Sandboxes:
    paytrace: str
    dynamics: str
    processes: list[asyncio.subprocess.Process]

    async def set_faults(self, profile: str, seed: int) -> None:
        async with httpx.AsyncClient() as client:
            for base in (self.paytrace, self.dynamics):
                reply = await client.post(
                    f"{base}/_sandbox/faults", json={"profile": profile, "seed": seed}
                )
                reply.raise_for_status()

    async def faults_injected(self) -> int:
        total = 0
        async with httpx.AsyncClient() as client:
            for base in (self.paytrace, self.dynamics):
                report = (await client.get(f"{base}/_sandbox/faults")).json()
                total += int(report.get("total", 0))
        return total

    async def stop(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), timeout=5)


async def start_sandboxes(logs: Path) -> Sandboxes:
    procs = []
    urls = []
    for system, probe in (("paytrace", "/_sandbox/state/summary"), ("dynamics", "/_sandbox/state")):
        port = _port()
        log = (logs / f"{system}.log").open("wb")
        procs.append(
            await asyncio.create_subprocess_exec(
                str(BIN / "paybridge-sandbox"), system, "--port", str(port), stdout=log, stderr=log
            )
        )
        url = f"http://127.0.0.1:{port}"
        await _wait_ready(url + probe)
        urls.append(url)
    return Sandboxes(urls[0], urls[1], procs)


def worker_config(path: Path, sandboxes: Sandboxes, store_url: str, web_port: int = 8080) -> Path:
    config = path / "paybridge.yaml"
    config.write_text(
        f"""store:
  url: {store_url}
paytrace:
  base_url: {sandboxes.paytrace}
  username: env:PAYTRACE_USERNAME
  password: env:PAYTRACE_PASSWORD
  integrator_id: env:PAYTRACE_INTEGRATOR_ID
  poll_interval_seconds: 0.5
  timeout_seconds: 10
dynamics:
  base_url: {sandboxes.dynamics}
  tenant: sandbox-tenant
  client_id: sandbox-client
  client_secret: env:DYNAMICS_CLIENT_SECRET
  login_redirect: {sandboxes.dynamics}
  timeout_seconds: 20
  # The storefront names its PayTrace profiles like the D365 accounts (see _accounts).
  customer_match: xref_or_same_id
worker:
  max_attempts: 1000
  lease_seconds: 8
reconcile:
  schedule_at: null
web:
  host: 127.0.0.1
  port: {web_port}
  charge_burst: 1000
  charge_rate_per_second: 1000
charging:
  # Past the PayTrace client's timeout (10 s above): a charge not found by then was not made.
  in_doubt_grace_seconds: 12
""",
        encoding="utf-8",
    )
    return config


class Killer:
    """Runs ``paybridge worker`` and SIGKILLs it at random moments, restarting it each time."""

    def __init__(self, config: Path, log: Path, rng: random.Random, every: float) -> None:
        self.config = config
        self.log = log
        self.rng = rng
        self.every = every
        self.kills = 0
        self.crashes = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start a worker and wait until it says it is ready: a kill during start-up proves nothing."""
        ready = self._readies()
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            # Faults are injected on purpose: the access check is for go-live, not for chaos.
            str(BIN / "paybridge"), "worker", "--skip-check", "--config", str(self.config),
            env={**os.environ, **SECRETS}, stdout=out, stderr=out,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while self._readies() == ready and self.proc.returncode is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not get ready in 60 s; see {self.log}")
            await asyncio.sleep(0.05)

    def _readies(self) -> int:
        try:
            return self.log.read_bytes().count(b"worker ready")
        except FileNotFoundError:
            return 0

    async def run(self, until: asyncio.Event) -> None:
        await self.start()
        while not until.is_set():
            assert self.proc is not None
            exited = asyncio.create_task(self.proc.wait())
            stopping = asyncio.create_task(until.wait())
            await asyncio.wait(
                {exited, stopping},
                timeout=self.every * self.rng.uniform(0.5, 1.5),
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in (exited, stopping):
                task.cancel()
            if until.is_set():
                break
            if self.proc.returncode is not None:
                # It died on its own: a bug the run must report, not a kill it made.
                self.crashes += 1
                if self.crashes > 20:
                    raise RuntimeError(f"the worker keeps exiting by itself; see {self.log}")
            else:
                self.proc.kill()
                await self.proc.wait()
                self.kills += 1
            await self.start()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), timeout=15)
            if self.proc.returncode is None:
                self.proc.kill()


@dataclass
class Shop:
    """The storefront: charges stored profiles, voids some, refunds some after settlement."""

    client: PayTraceClient
    rng: random.Random
    made: int = 0
    in_doubt_resolved: int = 0
    unsettled: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)

    async def _resolve(self, exc: InDoubtError, since: Any) -> TransactionRecord | None:
        for _ in range(20):
            try:
                found = await self.client.find_transactions(exc.reference, since)
            except PayBridgeError:
                await asyncio.sleep(0.2)
                continue
            self.in_doubt_resolved += 1
            return found[0] if found else None
        raise RuntimeError(f"could not resolve in-doubt request {exc.reference}")

    async def charge(self, profile: str, n: int) -> None:
        invoice = f"CHAOS-{n:06d}"
        amount = Decimal(self.rng.randint(500, 90_000)).scaleb(-2)
        since = SystemClock().now() - timedelta(minutes=5)
        for _attempt in range(30):
            try:
                reply = await self.client.sale_by_customer(
                    CustomerSaleRequest(
                        customer_id=profile, amount=amount, invoice_id=invoice,
                        description=_order_text(n),
                    )
                )  # fmt: skip
                self.unsettled.append(str(reply.transaction_id))
                return
            except DeclinedError:
                return
            except InDoubtError as exc:
                record = await self._resolve(exc, since)
                if record is not None:  # it went through: never charge the same request twice
                    self.unsettled.append(str(record.transaction_id))
                    return
            except PayBridgeError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"storefront could not charge {invoice}")

    async def maybe_void_or_refund(self, n: int) -> None:
        with contextlib.suppress(PayBridgeError):
            if n % 9 == 4 and self.unsettled:
                target = self.unsettled.pop(self.rng.randrange(len(self.unsettled)))
                await self.client.void(VoidRequest(transaction_id=int(target)))
            if n % 25 == 0 and self.unsettled:
                await self.client.settle()
                self.settled.extend(self.unsettled)
                self.unsettled.clear()
            if n % 7 == 3 and self.settled:
                target = self.settled.pop(self.rng.randrange(len(self.settled)))
                await self.client.refund_for_transaction(
                    TransactionRefundRequest(
                        transaction_id=int(target), invoice_id=f"REFUND-{target}"
                    )
                )


# A careless shop types a card number into the order text now and then: PayBridge must keep
# none of it (the store and the worker log are scanned at the end).
PLANTED_CARD = "4111 1111 1111 1111"


def _order_text(n: int) -> str:
    return f"Web order {n} paid with {PLANTED_CARD}" if n % 10 == 0 else f"Web order {n}"


def stored_card_numbers(store_url: str, work: Path) -> list[str]:
    """Card numbers found in the SQLite store's files (or every PostgreSQL table) and the worker log."""
    texts = (
        [(work / "worker.log").read_bytes().decode("latin-1")]
        if (work / "worker.log").exists()
        else []
    )
    if store_url.startswith("sqlite"):  # the raw files too: freed pages and the WAL keep old rows
        texts += [f.read_bytes().decode("latin-1") for f in sorted(work.glob("paybridge.db*"))]
    engine = open_engine(store_url)
    with engine.connect() as conn:
        for table in table_names(engine):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()  # noqa: S608 - names from the schema
            texts.append("\n".join(" | ".join(map(str, row)) for row in rows))
    engine.dispose()
    return [hit for chunk in texts for hit in card_numbers_in_text(chunk)]


def expected_lines(records: list[TransactionRecord]) -> dict[str, tuple[str, Decimal]]:
    """PaymentId -> (side, amount) that D365 must hold, from PayTrace's own export."""
    out: dict[str, tuple[str, Decimal]] = {}
    for rec in records:
        status = f"{rec.status_code} {rec.status_message}".lower()
        if "declin" in status:
            continue
        kind = rec.transaction_type.strip().upper()
        amount = Decimal(str(rec.amount))
        if kind == "SALE":
            out[f"PT-{rec.transaction_id}-sale"] = ("credit", amount)
            if "void" in status:
                out[f"PT-{rec.transaction_id}-void"] = ("debit", amount)
        elif kind == "REFUND" and "void" not in status:
            out[f"PT-{rec.transaction_id}-refund"] = ("debit", amount)
    return out


def compare(
    expected: dict[str, tuple[str, Decimal]], lines: list[dict[str, Any]]
) -> tuple[int, int]:
    """(lost, duplicated): duplicated counts extra copies, wrong amounts and lines with no source."""
    seen = Counter(str(line.get("PaymentId", "")) for line in lines)
    lost = sum(1 for pid in expected if seen[pid] == 0)
    duplicated = sum(n - 1 for pid, n in seen.items() if pid in expected and n > 1)
    duplicated += sum(n for pid, n in seen.items() if pid not in expected)
    for line in lines:
        pid = str(line.get("PaymentId", ""))
        if pid in expected:
            side, amount = expected[pid]
            got = Decimal(str(line.get("CreditAmount" if side == "credit" else "DebitAmount", 0)))
            if got != amount:
                duplicated += 1
    return lost, duplicated


async def run_chaos(
    payments: int,
    *,
    seed: int = 1,
    kill_every: float = 3.0,
    faults: str = "chaos",
    store_url: str | None = None,
    timeout: float = 600.0,
    progress: Any = None,
) -> ChaosReport:
    started = time.monotonic()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="paybridge-chaos-") as tmp:
        work = Path(tmp)
        url = store_url or f"sqlite:///{work / 'paybridge.db'}"
        boxes = await start_sandboxes(work)
        api_port = _port()
        config = worker_config(work, boxes, url, api_port)
        killer = Killer(config, work / "worker.log", rng, kill_every)
        done = asyncio.Event()
        serve: asyncio.subprocess.Process | None = None
        try:
            async with (
                httpx.AsyncClient(timeout=20) as pt_http,
                httpx.AsyncClient(timeout=60) as d_http,
            ):
                shop = Shop(
                    PayTraceClient(
                        pt_http, username=SECRETS["PAYTRACE_USERNAME"],
                        password=SECRETS["PAYTRACE_PASSWORD"],
                        integrator_id=SECRETS["PAYTRACE_INTEGRATOR_ID"], base_url=boxes.paytrace,
                    ),
                    rng,
                )  # fmt: skip
                profiles = await _open_profiles(shop.client, 10)
                env = {**os.environ, **SECRETS}
                token = await chaos_charges.prepare(config, BIN, env)
                serve = await _start_serve(config, work / "serve.log", env, api_port)
                await boxes.set_faults(faults, seed)
                killing = asyncio.create_task(killer.run(done))
                for n in range(1, payments + 1):
                    await shop.charge(rng.choice(profiles), n)
                    await shop.maybe_void_or_refund(n)
                    if progress is not None:
                        progress(n, payments, killer.kills)
                # Charges through the product's API while the faults go on; the first sales
                # commit and lose their answer (a 5xx or a dropped connection).
                await chaos_charges.script_after_commit_faults(boxes.paytrace)
                api = chaos_charges.ApiCharges(f"http://127.0.0.1:{api_port}", token, rng)
                await api.run(max(len(chaos_charges.AFTER_COMMIT) + 3, payments // 20))
                await boxes.set_faults("none", seed)
                injected = await boxes.faults_injected()
                d365 = _dynamics(d_http, boxes)
                store = open_store(url)
                lost, duplicated, records = await _drain(shop.client, d365, store, started, timeout)
                done.set()
                await killing
                found = sum(
                    1
                    for e in store.ledger.entries("paytrace:")
                    if e.detail.get("how", "").startswith("found")
                )
                invoices = Counter(
                    r.invoice_id for r in records if r.transaction_type.upper() == "SALE"
                )
                double = sum(
                    n - 1
                    for inv, n in invoices.items()
                    if inv and inv.startswith("CHAOS-") and n > 1
                )
                charged = chaos_charges.check(api.answers, records)
                return ChaosReport(
                    payments=payments,
                    kills=killer.kills,
                    faults=injected,
                    in_doubt_resolved=found + shop.in_doubt_resolved,
                    lost=lost,
                    duplicated=duplicated,
                    double_charges=double + charged.double_charges,
                    seconds=round(time.monotonic() - started, 2),
                    detail={
                        "card_numbers_kept": len(stored_card_numbers(url, work)),
                        "transactions": len(records),
                        "store": url.split("?")[0].split(":")[0],
                        "worker_crashes": killer.crashes,
                        "api_charges": len(api.answers),
                        "api_approved": sum(
                            1 for a in api.answers.values() if a["status"] == "approved"
                        ),
                        "api_retries": api.retries,
                        "api_double_charges": charged.double_charges,
                        "api_wrong_outcomes": charged.wrong_outcomes,
                        "api_unresolved": charged.unresolved,
                    },
                )
        finally:
            done.set()
            await killer.stop()
            if serve is not None and serve.returncode is None:
                serve.terminate()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(serve.wait(), timeout=15)
            await boxes.stop()


async def _start_serve(
    config: Path, log: Path, env: dict[str, str], port: int
) -> asyncio.subprocess.Process:
    """``paybridge serve`` on the run's store: the API the chaos customer charges through (and a
    second engine next to the killed worker)."""
    out = log.open("ab")
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "paybridge"), "serve", "--config", str(config), env=env, stdout=out, stderr=out,
    )  # fmt: skip
    await _wait_ready(f"http://127.0.0.1:{port}/health", deadline=60.0)
    return proc


async def _open_profiles(client: PayTraceClient, count: int) -> list[str]:
    accounts = [f"US-{n:03d}" for n in range(1, 11)]
    for account in accounts[:count]:
        await client.create_customer(
            CustomerCreateRequest(
                customer_id=account,  # named like the D365 account: matched by the same-id rule
                credit_card=CreditCard(
                    number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
                ),
                billing_address=Address(name=f"Chaos {account}", zip="98101"),
            )
        )
    return accounts[:count]


def _dynamics(http: httpx.AsyncClient, boxes: Sandboxes) -> DynamicsClient:
    settings = Settings(
        dynamics=DynamicsSettings(
            base_url=boxes.dynamics, tenant="sandbox-tenant", client_id="sandbox-client",
            client_secret=SecretStr("sandbox-secret"), login_redirect=boxes.dynamics,
        )
    )  # fmt: skip
    return DynamicsClient(http, base_url=boxes.dynamics, token_provider=msal_provider(settings))


async def _drain(
    paytrace: PayTraceClient, d365: DynamicsClient, store: Store, started: float, timeout: float
) -> tuple[int, int, list[TransactionRecord]]:
    """Wait until D365 holds every expected line, the queue is empty, and both stay so a while."""
    today = paytrace.local_date(SystemClock().now())
    request = ExportByDateRangeRequest(
        start_date=today - timedelta(days=1), end_date=today + timedelta(days=1)
    )
    stable = 0
    last: tuple[int, int] = (-1, -1)
    while True:
        records = await paytrace.export_by_date_range(request)
        expected = expected_lines(records)
        lines = await d365.query(
            "CustomerPaymentJournalLines",
            Query(
                filter=F("dataAreaId") == "usmf",
                select=["PaymentId", "CreditAmount", "DebitAmount"],
            ),
        )
        lost, duplicated = compare(expected, lines)
        queue = store.queue.stats()
        busy = queue.ready + queue.leased
        stable = stable + 1 if (lost, duplicated) == last and busy == 0 else 0
        last = (lost, duplicated)
        if (lost == 0 and stable >= 4) or time.monotonic() - started > timeout:
            return lost, duplicated, records
        await asyncio.sleep(0.5)
