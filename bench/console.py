"""Benchmark: the console's pages with 100,000 payments in the store.

Usage: python bench/console.py [--payments N] [--requests N] [--check]

Fills a new SQLite store directly (queue, inbox, ledger rows shaped as the engine writes them:
``payment`` messages with a ``Transaction`` payload, a posted D365 line for most, some dead
letters with a customer-specific reason, some still waiting), spread over 30 days with a busy
today. The console is built as ``paybridge serve`` builds it (``console_services`` from the
settings and the store, the security wiring, ``install_console``) and asked in-process through
httpx's ASGI transport, signed in as a viewer: each page is requested ``--requests`` times after
a warm-up, and the server time (request in, response out, no network) is measured. Prints the
payment index's first build, p50 and p99 per page, and the ratio of the worst p99 to the target
(300 ms); with --check exits 1 when a page misses it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Move this folder behind the stdlib on sys.path: bench/queue.py would shadow the stdlib's queue.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import insert

from paybridge.app.console import console_services
from paybridge.app.settings import Settings, StoreSettings
from paybridge.app.store import open_store
from paybridge.clock import SystemClock
from paybridge.keys import LINE_STEP, PAYMENT_TOPIC
from paybridge.model.money import Money
from paybridge.model.transaction import Transaction, TransactionKind, TransactionStatus
from paybridge.security.context import open_security
from paybridge.store.schema import inbox, ledger, queue
from paybridge.web.app import create_web_app
from paybridge.web.console import install_console
from paybridge.web.console.session import COOKIE
from paybridge.web.routes_admin import install_security

TARGET_MS = 300.0
FIRST_TX = 300_000_001
CHUNK = 10_000


def _rows(
    i: int, now: datetime
) -> tuple[dict[str, object], dict[str, object], dict[str, object] | None]:
    tx_id = str(FIRST_TX + i)
    # A third today, the rest over the 30 days before.
    ago = (
        timedelta(seconds=(i * 7919) % 36_000)
        if i % 3 == 0
        else timedelta(minutes=(i * 104_729) % 43_200)
    )
    occurred = now - ago - timedelta(seconds=30)
    customer = f"C{i % 5000:05d}"
    tx = Transaction(
        transaction_id=tx_id, kind=TransactionKind.SALE, status=TransactionStatus.APPROVED,
        amount=Money.of(Decimal(100 + (i * 7919) % 99_901).scaleb(-2), "USD"), occurred_at=occurred,
        customer_id=customer, invoice_id=f"INV-{i:07d}", order_id=f"SO-{i:07d}" if i % 2 else None,
        approval_code="TAS123", masked_card="xxxxxxxxxxxx5439",
    )  # fmt: skip
    key = tx.key
    status, reason = "done", None
    if i % 97 == 0:
        status, reason = "dead", f"no D365 customer for PayTrace customer '{customer}'; link one"
    elif i % 50 == 1:
        status = "ready"
    message = {
        "topic": PAYMENT_TOPIC, "key": key, "partition_key": f"paytrace:{tx_id}",
        "payload": json.dumps(tx.model_dump(mode="json")), "status": status, "attempts": 1,
        "failures": 0, "not_before": occurred, "created_at": occurred,
        "updated_at": occurred + timedelta(seconds=2), "dead_reason": reason, "replays": 0,
    }  # fmt: skip
    seen = {
        "key": key,
        "source": "poller",
        "received_at": occurred + timedelta(seconds=1),
        "duplicates": 0,
    }
    line = None
    if status == "done":
        line = {
            "event_key": key, "step": LINE_STEP, "system": "d365",
            "entity": "CustomerPaymentJournalLines", "entity_id": f"usmf/USMF-{i // 500:06d}/{i % 500 + 1}",
            "status": "posted", "attempts": 1, "template_version": "1",
            "detail": json.dumps({"how": "posted"}), "at": occurred + timedelta(seconds=3 + i % 40),
        }  # fmt: skip
    return message, seen, line


def fill(url: str, n: int) -> float:
    store = open_store(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, n, CHUNK):
        rows = [_rows(i, now) for i in range(start, min(start + CHUNK, n))]
        with store.engine.begin() as conn:
            conn.execute(insert(queue), [m for m, _, _ in rows])
            conn.execute(insert(inbox), [s for _, s, _ in rows])
            conn.execute(insert(ledger), [line for _, _, line in rows if line])
    return time.perf_counter() - started


async def measure(url: str, n: int, requests: int) -> dict[str, tuple[float, float]]:
    settings = Settings(store=StoreSettings(url=url))
    store = open_store(url)
    security = open_security(store.engine, clock=SystemClock())
    built = console_services(settings, store, security)
    started = time.perf_counter()
    indexed = built.payments.catch_up(limit=None)
    print(
        f"payment index, first build: {indexed:,} payments in {time.perf_counter() - started:.1f} s"
    )
    app = create_web_app(limits=settings.web)
    install_security(app, security)
    install_console(app, built)
    token = security.sessions.open("user:bench", "viewer").token
    letter = store.queue.dead_letters(limit=1)[0]
    mid = str(FIRST_TX + n // 2 + 1)
    pages = {
        "dashboard": "/",
        "payments (newest)": "/payments",
        "payments page 20": "/payments?page=20",
        "by transaction id": f"/payments?tx={mid}",
        "by invoice": f"/payments?invoice=INV-{n // 3:07d}",
        "by customer": "/payments?customer=C01234",
        "by amount range": "/payments?min=500&max=510",
        "by date (a week ago)": f"/payments?from={(datetime.now(UTC) - timedelta(days=7)).date()}"
        f"&to={(datetime.now(UTC) - timedelta(days=7)).date()}",
        "status dead": "/payments?status=dead",
        "payment + lineage": f"/payments/{mid}",
        "errors (grouped)": "/errors",
        "dead letter": f"/errors/{letter['id']}",
    }
    out: dict[str, tuple[float, float]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={COOKIE: token}
    ) as web:
        for name, path in pages.items():
            times = []
            for attempt in range(requests + 3):
                began = time.perf_counter()
                reply = await web.get(path)
                elapsed = (time.perf_counter() - began) * 1000
                if reply.status_code != 200:
                    raise SystemExit(f"{name}: {path} answered {reply.status_code}")
                if attempt >= 3:
                    times.append(elapsed)
            times.sort()
            out[name] = (
                statistics.median(times),
                times[min(len(times) - 1, int(len(times) * 0.99))],
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--check", action="store_true", help="exit 1 when a page misses 300 ms")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'console.db'}"
        seconds = fill(url, args.payments)
        print(f"store: {args.payments:,} payments filled in {seconds:.1f} s (SQLite)")
        figures = asyncio.run(measure(url, args.payments, args.requests))
    print(f"{'page':<24}{'p50 ms':>9}{'p99 ms':>9}")
    for name, (p50, p99) in figures.items():
        print(f"{name:<24}{p50:>9.1f}{p99:>9.1f}")
    worst = max(p99 for _, p99 in figures.values())
    print(f"ratio worst p99 / target {TARGET_MS:.0f} ms: {worst / TARGET_MS:.2f}")
    if args.check and worst > TARGET_MS:
        sys.exit(1)


if __name__ == "__main__":
    main()
