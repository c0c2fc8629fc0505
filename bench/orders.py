"""Orders end to end: D365 card order -> authorization -> invoice -> capture, per second and per request.

Usage: python bench/orders.py [--orders N] [--baseline-orders N] [--d365-latency-ms MS]

Both sandboxes run in-process (httpx ASGI transport, no sockets: the figure is PayBridge's work
and the sandboxes', not the loopback's), with the engine app/ builds (job ``orders.watch``,
handler ``order.payment``) on a fresh SQLite store. N card orders of two lines each are created
in D365, then the watch and the workers run until every order is authorized; every order is
invoiced in full, and they run again until every invoice is captured. Two runs in one process:

1. chunked: the watch reads the orders it watches ``orders.chunk_size`` (25) per request;
2. baseline: the same engine with ``orders.chunk_size`` 1, i.e. one status read and one invoice
   read per order per run: the naive "one request per order" watcher.

Every D365 request waits ``--d365-latency-ms`` (50) first, a round trip to a real F&O (the
in-process sandbox answers in microseconds, which would hide what a request costs); PayTrace's
requests get none (they are the same in both runs).

Printed per run: orders authorized and captured per second (from the first watch to the last
capture), D365 requests per order and PayTrace requests per order (counted on the engine's
transports). Exits 1 when an order misses its authorization or capture, or one is doubled.
The D365 request limiter is opened to 1,000 requests/s (the sandbox is not D365).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from paybridge.app.engine import Engine, build_engine
from paybridge.app.settings import Settings, StoreSettings, WorkerSettings
from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import MsalTokenProvider
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace import Address, CreditCard, CustomerCreateRequest
from paybridge.connectors.paytrace.settings import PayTraceSettings
from paybridge.orders.settings import OrdersSettings
from paybridge_sandbox.dynamics import SandboxClock as DynamicsClock
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app

PT, D365 = "https://api.paytrace.com", "https://usmf.sandbox.operations.dynamics.com"
START = datetime(2026, 7, 15, 16, 0, tzinfo=UTC)
SERVICE = ("PayBridgeSandbox", "SalesOrders", "invoice")


class CountingTransport(httpx.AsyncBaseTransport):
    """The ASGI transport of a sandbox, counting the requests that go through it."""

    def __init__(self, app: Any, latency: float = 0.0) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.count = 0
        self.latency = latency

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.latency:
            await asyncio.sleep(self.latency)  # a network round trip to a real F&O
        return await self.inner.handle_async_request(request)


class SyncASGI(httpx.BaseTransport):
    """Blocking transport for MSAL's token calls to the D365 sandbox."""

    def __init__(self, app: Any) -> None:
        from starlette.testclient import TestClient

        self.client = TestClient(app, base_url="https://login.microsoftonline.com")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = self.client.request(
            request.method, str(request.url), content=request.content, headers=dict(request.headers)
        )
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


@dataclass
class Run:
    label: str
    orders: int
    seconds: float
    d365_requests: int
    paytrace_requests: int
    problems: list[str]

    def line(self) -> str:
        return (
            f"{self.label}: {self.orders} orders authorized and captured in "
            f"{self.seconds:.2f} s = {self.orders / self.seconds:.1f} orders/s; "
            f"{self.d365_requests / self.orders:.2f} D365 requests/order, "
            f"{self.paytrace_requests / self.orders:.2f} PayTrace requests/order"
        )


def settings(tmp: Path, chunk: int) -> Settings:
    return Settings(
        store=StoreSettings(url=f"sqlite:///{tmp / f'orders-{chunk}.db'}"),
        paytrace=PayTraceSettings(
            base_url=PT,
            username=SecretStr("sandbox"),
            password=SecretStr("sandbox"),
            integrator_id=SecretStr("SANDBOX00001"),
        ),
        dynamics=DynamicsSettings(
            base_url=D365,
            tenant="sandbox-tenant",
            client_id="sandbox-client",
            client_secret=SecretStr("sandbox-secret"),
            requests_per_second=1000.0,
            request_burst=1000,
        ),
        worker=WorkerSettings(batch_size=500),
        orders=OrdersSettings(enabled=True, chunk_size=chunk),
    )


async def drain(engine: Engine) -> None:
    await engine.orders.watch.run()
    while await engine.worker.run_once():
        pass


async def run(label: str, n: int, chunk: int, tmp: Path, latency: float) -> Run:
    pt_app, d_app = (
        paytrace_app(clock=SandboxClock(START)),
        dynamics_app(clock=DynamicsClock(START)),
    )
    pt_t, d_t = CountingTransport(pt_app), CountingTransport(d_app, latency)
    tokens = MsalTokenProvider(
        "sandbox-client",
        "sandbox-secret",
        "https://login.microsoftonline.com/sandbox-tenant",
        f"{D365}/.default",
        http_client=httpx.Client(transport=SyncASGI(d_app)),
    )
    async with (
        httpx.AsyncClient(transport=pt_t, base_url=PT) as pt_http,
        httpx.AsyncClient(transport=d_t, base_url=D365) as d_http,
    ):
        engine = build_engine(
            settings(tmp, chunk),
            clock=ManualClock(START),
            paytrace_http=pt_http,
            dynamics_http=d_http,
            token_provider=tokens,
        )
        numbers = await prepare(engine, n)
        pt_t.count = d_t.count = 0
        began = time.perf_counter()
        await drain(engine)
        for number in numbers:  # a person invoices (not counted: D365's own work)
            before = d_t.count
            await engine.dynamics.call_service(
                *SERVICE, {"dataAreaId": "usmf", "SalesOrderNumber": number}
            )
            d_t.count = before
        await drain(engine)
        await drain(engine)  # the closes (orders now fully invoiced)
        spent = time.perf_counter() - began
        problems = check(pt_app, numbers)
        result = Run(label, n, spent, d_t.count, pt_t.count, problems)
        await engine.aclose()
    return result


async def prepare(engine: Engine, n: int) -> list[str]:
    await engine.paytrace.create_customer(
        CustomerCreateRequest(
            customer_id="BENCH-1",
            billing_address=Address(name="Bench Buyer", zip="98101"),
            credit_card=CreditCard(
                number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
            ),
        )
    )
    engine.store.xref.link("paytrace_customer", "BENCH-1", "usmf/US-001")
    numbers = []
    for _ in range(n):
        header = await engine.dynamics.create(
            "SalesOrderHeadersV2",
            {
                "dataAreaId": "usmf",
                "OrderingCustomerAccountNumber": "US-001",
                "CustomerPaymentMethodName": "CREDITCARD",
            },
        )
        number = str(header["SalesOrderNumber"])
        for price in ("10", "2.5"):
            await engine.dynamics.create(
                "SalesOrderLinesV3",
                {
                    "dataAreaId": "usmf",
                    "SalesOrderNumber": number,
                    "ItemNumber": "D0001",
                    "OrderedSalesQuantity": 2,
                    "SalesPrice": Decimal(price),
                },
            )
        numbers.append(number)
    return numbers


def check(pt_app: Any, numbers: list[str]) -> list[str]:
    txns = pt_app.state.sandbox.state.transactions.values()
    auths = Counter(t.invoice_id for t in txns if t.transaction_type == "AUTHORIZATION")
    captured = Counter(
        t.invoice_id
        for t in txns
        if t.transaction_type == "AUTHORIZATION" and t.status == "pending"
    )
    amounts = {t.invoice_id: t.amount for t in txns if t.status == "pending"}
    problems = [
        f"{n}: {auths[n]} authorizations, {captured[n]} captures"
        for n in numbers
        if auths[n] != 1 or captured[n] != 1
    ]
    problems += [
        f"{n}: captured {amounts.get(n)}" for n in numbers if amounts.get(n) != Decimal("25.00")
    ]
    return problems


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        latency = args.d365_latency_ms / 1000
        chunked = await run("chunked (25 orders per read)", args.orders, 25, Path(tmp), latency)
        print(chunked.line(), flush=True)
        naive = await run(
            "baseline (one read per order)", args.baseline_orders, 1, Path(tmp), latency
        )
        print(naive.line(), flush=True)
    per_order = (naive.d365_requests / naive.orders) / (chunked.d365_requests / chunked.orders)
    speed = (chunked.orders / chunked.seconds) / (naive.orders / naive.seconds)
    print(
        f"ratio: {per_order:.1f}x fewer D365 requests per order, {speed:.2f}x the orders/s "
        "of the baseline"
    )
    problems = chunked.problems + naive.problems
    for problem in problems[:20]:
        print(f"PROBLEM {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--baseline-orders", type=int, default=200)
    parser.add_argument("--d365-latency-ms", type=float, default=50.0)
    raise SystemExit(asyncio.run(main(parser.parse_args())))
