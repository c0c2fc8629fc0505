"""D365 journal lines through $batch against one POST per line: HTTP requests and wall time.

Usage: python bench/dynamics_batch.py [--lines N]

Serves the D365 F&O sandbox under uvicorn in a child process on 127.0.0.1, creates one customer
payment journal, and posts N lines (default 5,000) with ``DynamicsClient.create`` one request per
line, then N more with ``DynamicsClient.batch`` (one changeset per line, up to 5,000 operations per
request). It counts the HTTP requests each way on a wrapped transport and prints requests per
line, the request ratio (target >= 50x fewer) and the wall-time ratio (target >= 5x faster).
Reading back must then find exactly 2N lines with the expected payment references. Exits 1 when
a target or the read-back check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Move this folder behind the stdlib on sys.path: bench/queue.py would shadow the stdlib's queue.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from paybridge.connectors.dynamics import (
    BatchOperation,
    DynamicsClient,
    F,
    MsalTokenProvider,
    Query,
    RedirectTransport,
)
from paytrace_client import serve_sandbox

LINES = "CustomerPaymentJournalLines"
REQUEST_TARGET = 50.0
WALL_TARGET = 5.0
COMPANY = "usmf"
CUSTOMERS = [f"US\\-{n:03d}" for n in range(1, 11)]  # US-001..US-010, '-' escaped as F&O wants
BANK_ACCOUNT = "USMF OPER"


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts every HTTP request the client sends, by method and last path segment."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.counts: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.counts[f"{request.method} {request.url.path.rsplit('/', 1)[-1]}"] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Run:
    label: str
    lines: int
    requests: int
    seconds: float
    client_cpu: float

    @property
    def per_line(self) -> float:
        return self.requests / self.lines

    def describe(self) -> str:
        return (
            f"  {self.label}: {self.requests:,} requests for {self.lines:,} lines "
            f"({self.per_line:.4f} per line), {self.seconds:.2f} s, "
            f"{self.lines / self.seconds:,.0f} lines/s, client-process CPU {self.client_cpu:.2f} s"
        )


def line_body(journal: str, reference: str, n: int) -> dict[str, Any]:
    return {
        "dataAreaId": COMPANY,
        "JournalBatchNumber": journal,
        "AccountType": "Cust",
        "AccountDisplayValue": CUSTOMERS[n % len(CUSTOMERS)],
        "CurrencyCode": "USD",
        "CreditAmount": Decimal(1000 + n % 9000).scaleb(-2),
        "OffsetAccountType": "Bank",
        "OffsetAccountDisplayValue": BANK_ACCOUNT,
        "PaymentReference": reference,
        "TransactionText": f"Bench payment {reference}",
    }


async def one_per_line(
    client: DynamicsClient, counter: CountingTransport, journal: str, refs: Sequence[str]
) -> Run:
    before, start, cpu = counter.total(), time.perf_counter(), time.process_time()
    for n, ref in enumerate(refs):
        await client.create(LINES, line_body(journal, ref, n), reference=ref)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Run("create() per line", len(refs), counter.total() - before, seconds, cpu)


async def batched(
    client: DynamicsClient, counter: CountingTransport, journal: str, refs: Sequence[str]
) -> Run:
    changesets = [
        [BatchOperation("POST", LINES, body=line_body(journal, ref, n), reference=ref)]
        for n, ref in enumerate(refs)
    ]
    before, start, cpu = counter.total(), time.perf_counter(), time.process_time()
    results = await client.batch(changesets)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    failed = [r for r in results if not r.ok]
    if len(results) != len(refs) or failed:
        raise RuntimeError(f"{len(failed)} of {len(refs)} changesets failed: {failed[:1]}")
    return Run("batch() changesets", len(refs), counter.total() - before, seconds, cpu)


async def read_back(client: DynamicsClient, journal: str, expected: set[str]) -> list[str]:
    """Problems found reading the journal back; empty when it holds exactly ``expected``."""
    query = Query(
        filter=(F("dataAreaId") == COMPANY) & (F("JournalBatchNumber") == journal),
        select=["PaymentReference", "LineNumber"],
    )
    rows = await client.query(LINES, query)
    refs = Counter(str(row["PaymentReference"]) for row in rows)
    problems = []
    if len(rows) != len(expected):
        problems.append(f"{len(rows):,} lines read back, expected {len(expected):,}")
    if dupes := [ref for ref, n in refs.items() if n > 1]:
        problems.append(f"{len(dupes)} references twice or more, e.g. {dupes[0]}")
    if missing := expected - refs.keys():
        problems.append(f"{len(missing)} references missing, e.g. {min(missing)}")
    if strays := refs.keys() - expected:
        problems.append(f"{len(strays)} unexpected references, e.g. {min(strays)}")
    if len({row["LineNumber"] for row in rows}) != len(rows):
        problems.append("line numbers are not unique")
    return problems


def login_client(base_url: str) -> httpx.Client:
    """MSAL's sync HTTP client, with Entra's login host pointed at the sandbox."""
    return httpx.Client(
        transport=RedirectTransport(
            {"https://login.microsoftonline.com": base_url}, transport=httpx.HTTPTransport()
        )
    )


async def run(base_url: str, lines: int) -> bool:
    counter = CountingTransport(httpx.AsyncHTTPTransport())
    with login_client(base_url) as login:
        tokens = MsalTokenProvider.for_environment(
            "sandbox-tenant", "sandbox-client", "sandbox-secret", base_url, http_client=login
        )
        async with httpx.AsyncClient(transport=counter, timeout=300.0) as http:
            client = DynamicsClient(http, base_url=base_url, token_provider=tokens)
            header = await client.create(
                "CustomerPaymentJournalHeaders", {"dataAreaId": COMPANY, "JournalName": "CustPay"}
            )
            journal = str(header["JournalBatchNumber"])
            print(f"journal {journal} in {COMPANY}; {lines:,} lines each way")
            single_refs = [f"BENCH-ONE-{n:06d}" for n in range(lines)]
            batch_refs = [f"BENCH-BAT-{n:06d}" for n in range(lines)]
            single = await one_per_line(client, counter, journal, single_refs)
            multi = await batched(client, counter, journal, batch_refs)
            problems = await read_back(client, journal, set(single_refs) | set(batch_refs))
    return report(single, multi, problems, counter)


def report(single: Run, multi: Run, problems: list[str], counter: CountingTransport) -> bool:
    print(single.describe())
    print(multi.describe())
    request_ratio = single.requests / multi.requests
    wall_ratio = single.seconds / multi.seconds
    print(f"  request ratio {request_ratio:,.0f}x fewer (target >= {REQUEST_TARGET:.0f}x)")
    print(f"  wall-time ratio {wall_ratio:.1f}x faster (target >= {WALL_TARGET:.0f}x)")
    print(f"  all requests on the data transport: {dict(sorted(counter.counts.items()))}")
    print("  read back: " + ("; ".join(problems) if problems else "exact, no duplicates"))
    return request_ratio >= REQUEST_TARGET and wall_ratio >= WALL_TARGET and not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5000, help="lines per path")
    args = parser.parse_args()
    with serve_sandbox("paybridge_sandbox.dynamics:create_app", "/data") as served:
        print(f"D365 sandbox under uvicorn at {served.base_url} (pid {served.pid})")
        ok = asyncio.run(run(served.base_url, args.lines))
    if not ok:
        print("FAILED: a target or the read-back check was missed")
        sys.exit(1)


if __name__ == "__main__":
    main()
