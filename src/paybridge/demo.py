"""`paybridge demo`: both sandboxes, the engine and a simulated storefront in one process.

The one module outside tests and bench/ that starts the sandboxes. The storefront is a merchant's
web shop: it creates PayTrace customer profiles and charges them (a few amounts decline, as PayTrace's
sandbox does). The engine sees the sales only through PayTrace's exports, as it would in production,
and posts them to D365. The summary is counted by reading the D365 sandbox back, not from the
engine's own counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.text import Text

from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
)
from paybridge.errors import DeclinedError
from paybridge.services import Engine, build_engine
from paybridge.settings import (
    DynamicsSettings,
    PayTraceSettings,
    ReconcileSettings,
    Settings,
    StoreSettings,
)
from paybridge.web.server import EmbeddedServer
from paybridge_sandbox.dynamics import create_app as create_dynamics_app
from paybridge_sandbox.paytrace import create_app as create_paytrace_app

DECLINING_AMOUNTS = (Decimal("0.29"), Decimal("1.12"))
COMPANY = "usmf"


@dataclass
class DemoSummary:
    payments: int
    approved: int
    posted: int
    duplicates: int
    missing: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.posted == self.approved and self.duplicates == 0 and self.missing == 0


@dataclass
class Storefront:
    """A merchant's web shop charging stored PayTrace customer profiles."""

    engine: Engine
    rng: random.Random
    made: int = 0
    approved_ids: set[str] = field(default_factory=set)
    declined: int = 0

    async def open_customers(self, count: int) -> list[str]:
        """Create PayTrace profiles and link them to D365 customers (the cross-reference)."""
        accounts = await self.engine.dynamics.query("CustomersV3", None)
        usmf = sorted(
            str(row["CustomerAccount"]) for row in accounts if row.get("dataAreaId") == COMPANY
        )
        if not usmf:
            raise RuntimeError("the D365 sandbox has no customers in usmf")
        profiles = []
        for n in range(count):
            profile_id = f"SHOP-{n + 1:04d}"
            await self.engine.paytrace.create_customer(_customer_request(profile_id, n))
            self.engine.store.xref.link(
                "paytrace_customer", profile_id, f"{COMPANY}/{usmf[n % len(usmf)]}"
            )
            profiles.append(profile_id)
        return profiles

    async def sell(self, profiles: list[str], payments: int, pace: float) -> None:
        for n in range(payments):
            amount = self._amount(n)
            request = CustomerSaleRequest(
                customer_id=self.rng.choice(profiles),
                amount=amount,
                invoice_id=f"WEB-{n + 1:06d}",
                description=f"Web order {n + 1}",
            )
            try:
                response = await self.engine.paytrace.sale_by_customer(request)
                self.approved_ids.add(str(response.transaction_id))
            except DeclinedError:
                self.declined += 1
            self.made += 1
            if pace:
                await asyncio.sleep(pace)

    def _amount(self, n: int) -> Decimal:
        if n % 20 == 7:
            return DECLINING_AMOUNTS[n % 2]
        cents = self.rng.randint(500, 250_000)
        return Decimal(cents).scaleb(-2)


def _customer_request(profile_id: str, n: int) -> CustomerCreateRequest:
    # The storefront is outside PayBridge: it holds the test card, PayBridge never sees it.
    return CustomerCreateRequest(
        customer_id=profile_id,
        credit_card=CreditCard(
            number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
        ),
        billing_address=Address(
            name=f"Demo Shopper {n + 1}", street_address="8320 E. West St.", city="Spokane",
            state="WA", zip="99201",
        ),
    )  # fmt: skip


async def read_back(engine: Engine, approved: set[str]) -> tuple[int, int, int]:
    """(posted, duplicates, missing) by reading D365's payment journal lines."""
    rows = await engine.dynamics.query("CustomerPaymentJournalLines", None)
    counts = Counter(str(row.get("PaymentReference", "")) for row in rows)
    posted = sum(1 for tx in approved if counts[tx] >= 1)
    duplicates = sum(counts[tx] - 1 for tx in approved if counts[tx] > 1)
    strays = sum(n for ref, n in counts.items() if ref and ref not in approved)
    return posted, duplicates + strays, len(approved) - posted


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say so, and without
    # it every response waits out the peer's delayed ACK (40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _serve(app: Any, sock: socket.socket) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
    server = EmbeddedServer(config)
    asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server


def demo_settings(paytrace_url: str, dynamics_url: str, store: Path) -> Settings:
    return Settings(
        store=StoreSettings(url=f"sqlite:///{store}"),
        paytrace=PayTraceSettings(
            base_url=paytrace_url,
            username=SecretStr("sandbox"),
            password=SecretStr("sandbox"),
            integrator_id=SecretStr("SANDBOX00001"),
            poll_interval_seconds=0.5,
        ),
        dynamics=DynamicsSettings(
            base_url=dynamics_url,
            tenant="sandbox-tenant",
            client_id="sandbox-client",
            client_secret=SecretStr("sandbox-secret"),
            login_redirect=dynamics_url,
            company=COMPANY,
        ),
        reconcile=ReconcileSettings(schedule_at=None),  # the demo's day has not settled yet
    )


async def run_demo(
    payments: int,
    *,
    exit_when_done: bool,
    seed: int = 7,
    console: Console | None = None,
    timeout: float = 300.0,
    on_ready: Callable[[str, str], Awaitable[None]] | None = None,
) -> DemoSummary:
    console = console or Console(stderr=True)
    started = time.monotonic()
    pt_sock, d_sock = _free_socket(), _free_socket()
    pt_url = f"http://127.0.0.1:{pt_sock.getsockname()[1]}"
    d_url = f"http://127.0.0.1:{d_sock.getsockname()[1]}"
    servers = [
        await _serve(create_paytrace_app(), pt_sock),
        await _serve(create_dynamics_app(), d_sock),
    ]
    with tempfile.TemporaryDirectory(prefix="paybridge-demo-") as tmp:
        engine = build_engine(demo_settings(pt_url, d_url, Path(tmp) / "paybridge.db"))
        stop = asyncio.Event()
        runner = asyncio.create_task(engine.run(stop))
        shop = Storefront(engine, random.Random(seed))
        try:
            console.print(f"PayTrace sandbox: {pt_url}   D365 sandbox: {d_url}")
            profiles = await shop.open_customers(min(25, max(payments, 1)))
            selling = asyncio.create_task(shop.sell(profiles, payments, 0.0))
            summary = await _watch(engine, shop, selling, payments, started, console, timeout)
            if not exit_when_done:
                console.print(
                    f"Demo running. PayTrace sandbox {pt_url} (user sandbox/sandbox), "
                    f"D365 sandbox {d_url}/data. Ctrl-C to stop."
                )
                if on_ready is not None:
                    await on_ready(pt_url, d_url)
                await asyncio.Event().wait()
            return summary
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner, timeout=10)
            await engine.aclose()
            for server in servers:
                server.should_exit = True
            await asyncio.sleep(0.05)


async def _watch(
    engine: Engine,
    shop: Storefront,
    selling: asyncio.Task[None],
    payments: int,
    started: float,
    console: Console,
    timeout: float,
) -> DemoSummary:
    posted = duplicates = missing = 0
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            await asyncio.sleep(0.5)
            posted, duplicates, missing = await read_back(engine, shop.approved_ids)
            stats = engine.store.queue.stats()
            live.update(
                Text(
                    f"made {shop.made}/{payments} · approved {len(shop.approved_ids)} · "
                    f"declined {shop.declined} · posted {posted} · pending {stats.ready + stats.leased}"
                    f" · dead letters {stats.dead}"
                )
            )
            if selling.done():
                selling.result()
                if stats.ready + stats.leased == 0 and (missing == 0 or stats.dead):
                    break
            if time.monotonic() - started > timeout:
                break
    return DemoSummary(
        payments=payments,
        approved=len(shop.approved_ids),
        posted=posted,
        duplicates=duplicates,
        missing=missing,
        seconds=round(time.monotonic() - started, 2),
    )


def summary_json(summary: DemoSummary) -> str:
    return json.dumps(asdict(summary), separators=(", ", ": "))


__all__ = ["DemoSummary", "run_demo", "summary_json"]
