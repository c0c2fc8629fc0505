"""PayTrace client overhead per call against raw httpx, and the PayTrace sandbox's sales per second.

Usage: python bench/paytrace_client.py [--rounds N] [--calls N] [--sales N] [--concurrency N]

Serves the PayTrace sandbox under uvicorn in a child process on 127.0.0.1, then:
(a) sends identical requests (same token, same bodies, same connection pool) through
    ``PayTraceClient`` and through bare ``httpx.AsyncClient.post`` calls, interleaved in rounds
    so that a noisy neighbour hits both alike, and prints µs per call for each and their ratio
    (target <= 1.3; exits 1 when missed);
(b) drives keyed and by-customer sales with some concurrency and prints sales per second.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Move this folder behind the stdlib on sys.path: bench/queue.py would shadow the stdlib's queue.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import httpx

from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
    PayTraceClient,
    TransactionResponse,
)

TARGET_RATIO = 1.3
USERNAME = PASSWORD = "sandbox"  # noqa: S105 - the sandbox's public demo login
INTEGRATOR_ID = "SANDBOX00001"
CUSTOMER_ID = "BENCH-0001"
# A public test card; it only ever travels to the local sandbox and is never printed.
TEST_CARD = {"number": "4012000098765439", "expiration_month": "12", "expiration_year": "2030"}
SALE_PATH = "/v1/transactions/sale/by_customer"
KEYED_PATH = "/v1/transactions/sale/keyed"
EXPORT_PATH = "/v1/transactions/export/by_id"

# The child binds port 0 itself and reports the port, so no other process can take it first.
# IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
# it Nagle plus delayed ACKs add ~40 ms to every response.
_LAUNCH = """
import importlib, socket, sys, uvicorn
module, _, name = sys.argv[1].partition(":")
app = getattr(importlib.import_module(module), name)()
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
uvicorn.Server(config).run(sockets=[sock])
"""


@dataclass(frozen=True)
class ServedSandbox:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server process has used so far (Linux /proc), else None."""
        stat = Path(f"/proc/{self.pid}/stat")
        if not stat.exists():
            return None
        fields = stat.read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve_sandbox(factory: str, ready_path: str, timeout: float = 30.0) -> Iterator[ServedSandbox]:
    """Run ``module:create_app`` under uvicorn in a child process on 127.0.0.1 until exit."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, factory], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"the sandbox {factory} did not start (exit {proc.poll()})")
        served = ServedSandbox(f"http://127.0.0.1:{line}", proc.pid)
        _wait_until_up(served.base_url + ready_path, timeout)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Series:
    """Per-round µs/call of one path of one operation, and the client-process CPU it used."""

    per_call_us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.per_call_us)

    def cpu_median(self) -> float:
        return statistics.median(self.cpu_us)


Call = Callable[[int], Awaitable[object]]


class Rig:
    """The same sandbox, token and connection pool behind both the client and the raw calls."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base = base_url
        self.client = PayTraceClient(
            http,
            username=USERNAME,
            password=PASSWORD,
            integrator_id=INTEGRATOR_ID,
            base_url=base_url,
        )
        self.token = ""
        self.transaction_id = 0
        self._invoices = itertools.count(1)

    async def prepare(self) -> None:
        """Create the vault customer and learn the client's token from its first request."""
        seen: list[httpx.Request] = []

        async def spy(request: httpx.Request) -> None:
            seen.append(request)

        self.http.event_hooks = {"request": [spy], "response": []}
        try:
            await self.client.create_customer(
                CustomerCreateRequest(
                    customer_id=CUSTOMER_ID,
                    credit_card=CreditCard.model_validate(TEST_CARD),
                    billing_address=Address(name="Bench Shopper", zip="99201"),
                )
            )
            bearer = next(r.headers["authorization"] for r in seen if "authorization" in r.headers)
            self.token = bearer.removeprefix("Bearer ")
            self.transaction_id = (await self.client_sale(0, "WARM-1")).transaction_id
            await self.check_identical(seen)
        finally:
            self.http.event_hooks = {"request": [], "response": []}

    async def check_identical(self, seen: list[httpx.Request]) -> None:
        """Fail loudly unless both paths put the same request on the wire."""
        pairs: list[tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]]] = [
            (partial(self.client_sale, 1, "SAME"), partial(self.raw_sale, 1, "SAME")),
            (self.client_export, self.raw_export),
        ]
        for client_call, raw_call in pairs:
            seen.clear()
            await client_call()
            await raw_call()
            ours, raw = seen
            assert ours.url == raw.url, (ours.url, raw.url)
            assert json.loads(ours.content) == json.loads(raw.content), "bodies differ"
            for name in ("authorization", "content-type", "accept"):
                assert ours.headers.get(name) == raw.headers.get(name), name

    def amount(self, n: int) -> Decimal:
        # 10.00-19.99: clear of the sandbox's decline triggers (0.29, 1.12).
        return Decimal(1000 + n % 1000).scaleb(-2)

    async def client_sale(self, n: int, invoice: str | None = None) -> TransactionResponse:
        request = CustomerSaleRequest(
            customer_id=CUSTOMER_ID,
            amount=self.amount(n),
            invoice_id=invoice or f"C-{next(self._invoices)}",
        )
        return await self.client.sale_by_customer(request)

    async def raw_sale(self, n: int, invoice: str | None = None) -> None:
        body = {
            "integrator_id": INTEGRATOR_ID,
            "customer_id": CUSTOMER_ID,
            "amount": format(self.amount(n), "f"),
            "invoice_id": invoice or f"R-{next(self._invoices)}",
        }
        await self.raw_post(SALE_PATH, body)

    async def client_export(self, _n: int = 0) -> None:
        record = await self.client.export_by_id(self.transaction_id)
        assert record is not None
        assert record.transaction_id == self.transaction_id

    async def raw_export(self, _n: int = 0) -> None:
        reply = await self.raw_post(
            EXPORT_PATH, {"integrator_id": INTEGRATOR_ID, "transaction_id": self.transaction_id}
        )
        assert reply["transactions"][0]["transaction_id"] == self.transaction_id

    async def raw_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """What a careful hand-written integration does: post JSON, check success, keep Decimals."""
        response = await self.http.post(
            self.base + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            timeout=90.0,
        )
        reply: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
        if response.status_code != 200 or reply.get("success") is not True:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return reply


async def timed(call: Call, calls: int, start: int) -> tuple[float, float]:
    """(wall µs, client-process CPU µs) per call for ``calls`` sequential calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        await call(start + i)
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


async def overhead(rig: Rig, rounds: int, calls: int) -> dict[str, tuple[Series, Series]]:
    """Per operation: (client series, raw series), alternating which path goes first."""
    pairs: dict[str, tuple[Call, Call]] = {
        "sale_by_customer": (rig.client_sale, rig.raw_sale),
        "export_by_id": (rig.client_export, rig.raw_export),
    }
    results = {name: (Series(), Series()) for name in pairs}
    for r in range(rounds):
        for name, (ours, raw) in pairs.items():
            order = [(ours, results[name][0]), (raw, results[name][1])]
            for call, series in order if r % 2 == 0 else reversed(order):
                wall, cpu = await timed(call, calls, r * calls)
                series.per_call_us.append(wall)
                series.cpu_us.append(cpu)
    return results


class LeanConnection:
    """One keep-alive HTTP/1.1 connection for load: httpx costs ~1 ms of CPU per call, which on a
    small machine would make the throughput figure the load generator's, not the sandbox's."""

    def __init__(self, base_url: str, token: str) -> None:
        self._host, _, port = base_url.removeprefix("http://").partition(":")
        self._port = int(port)
        self._head = (
            f"Host: {self._host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        )
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        content = json.dumps(body).encode()
        request = f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(content)}\r\n\r\n"
        writer.write(request.encode() + content)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = head.partition("\r\ncontent-length:")[2].partition("\r\n")[0]
        if not head.startswith("http/1.1 200") or not length.strip().isdigit():
            raise RuntimeError(f"{path} answered {head.splitlines()[0]}")
        reply: dict[str, Any] = json.loads(
            await reader.readexactly(int(length)), parse_float=Decimal
        )
        return reply

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()


async def sales_per_second(rig: Rig, kind: str, sales: int, concurrency: int) -> float:
    """Approved sales per second with ``concurrency`` keep-alive connections."""
    counter = itertools.count()
    approved = 0

    def body(n: int) -> tuple[str, dict[str, Any]]:
        fields = {"integrator_id": INTEGRATOR_ID, "amount": format(rig.amount(n), "f")}
        if kind == "keyed":
            return KEYED_PATH, {**fields, "credit_card": TEST_CARD, "invoice_id": f"K-{n}"}
        return SALE_PATH, {**fields, "customer_id": CUSTOMER_ID, "invoice_id": f"T-{n}"}

    async def worker(connection: LeanConnection) -> None:
        nonlocal approved
        while (n := next(counter)) < sales:
            reply = await connection.post(*body(n))
            approved += reply.get("success") is True

    connections = [LeanConnection(rig.base, rig.token) for _ in range(concurrency)]
    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    elapsed = time.perf_counter() - start
    if approved != sales:
        raise RuntimeError(f"only {approved} of {sales} {kind} sales were approved")
    return sales / elapsed


def report(results: dict[str, tuple[Series, Series]], rounds: int, calls: int) -> bool:
    ok = True
    print(f"overhead: {rounds} rounds x {calls} calls per path per operation, interleaved")
    for name, (ours, raw) in results.items():
        ratio = ours.median() / raw.median()
        ok = ok and ratio <= TARGET_RATIO
        print(
            f"  {name}: PayTraceClient {ours.median():,.0f} µs/call, raw httpx "
            f"{raw.median():,.0f} µs/call, ratio {ratio:.2f} (target <= {TARGET_RATIO}); "
            f"client-process CPU {ours.cpu_median():,.0f} vs {raw.cpu_median():,.0f} µs/call"
        )
    return ok


async def throughput(
    rig: Rig, served: ServedSandbox, kind: str, sales: int, concurrency: int
) -> None:
    server_cpu, own_cpu = served.cpu_seconds(), time.process_time()
    rate = await sales_per_second(rig, kind, sales, concurrency)
    line = f"  sandbox {kind} sales: {rate:,.0f} sales/s"
    server_after = served.cpu_seconds()
    if server_cpu is not None and server_after is not None and server_after > server_cpu:
        line += f", {sales / (server_after - server_cpu):,.0f} per server CPU-second"
    load_us = (time.process_time() - own_cpu) / sales * 1e6
    print(f"{line} (load generator {load_us:,.0f} CPU µs/sale)")


async def run(args: argparse.Namespace, served: ServedSandbox) -> bool:
    limits = httpx.Limits(max_connections=max(args.concurrency, 1), max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits) as http:
        rig = Rig(http, served.base_url)
        await rig.prepare()
        await overhead(rig, 2, args.calls)  # warm-up: imports, caches, connections
        ok = report(await overhead(rig, args.rounds, args.calls), args.rounds, args.calls)
        print(f"throughput: {args.sales} sales per kind over {args.concurrency} connections")
        for kind in ("keyed", "by_customer"):
            await throughput(rig, served, kind, args.sales, args.concurrency)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--calls", type=int, default=25, help="calls per path per round")
    parser.add_argument("--sales", type=int, default=10_000, help="sales per kind (throughput)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with serve_sandbox("paybridge_sandbox.paytrace:create_app", "/v1/ping") as served:
        print(f"PayTrace sandbox under uvicorn at {served.base_url} (pid {served.pid})")
        ok = asyncio.run(run(args, served))
    if not ok:
        print(f"FAILED: client overhead ratio above {TARGET_RATIO}")
        sys.exit(1)


if __name__ == "__main__":
    main()
