"""Benchmark: the console's pages with 100,000 payments in the store.

Usage: python bench/console.py [--payments N] [--requests N] [--check]

Fills a new SQLite store directly (queue, inbox, ledger rows shaped as the engine writes them:
``payment`` messages with a ``Transaction`` payload, a posted D365 line for most, some dead
letters with a customer-specific reason, some still waiting), spread over 30 days with a busy
today. The console is built as ``paybridge serve`` builds it (``build_engine`` and ``build_api`` over the
filled store, plus 10,000 charges and 200 subscriptions; PayTrace and D365 are never called, the
designer's ``$metadata`` and samples are handed in, see ``offline_desk``) and asked in-process
through httpx's ASGI transport, signed in as an admin (who sees every page): each page is requested ``--requests`` times after
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
import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import insert

from paybridge.app.api import build_api
from paybridge.app.engine import Engine, build_engine
from paybridge.app.settings import Settings, StoreSettings
from paybridge.app.store import Store, open_store
from paybridge.billing.subscriptions import Frequency, NewSubscription, Schedule
from paybridge.console.designer import MappingDesk, Sample
from paybridge.console.services import ConsoleServices
from paybridge.keys import LINE_STEP, PAYMENT_TOPIC
from paybridge.mapping import CompiledTemplate, EntitySchema, schema_from_entity_json
from paybridge.model.money import Money
from paybridge.model.transaction import Transaction, TransactionKind, TransactionStatus
from paybridge.store.schema import inbox, ledger, queue
from paybridge.store.schema_charges import charges
from paybridge.web.console.session import COOKIE

# The D365 sandbox's reference field lists (read as files; the sandbox is not imported).
ENTITIES = (
    Path(__file__).resolve().parents[1] / "src" / "paybridge_sandbox" / "dynamics" / "entities"
)
ENTITY_SETS = (
    "CustomerPaymentJournalLines",
    "CustomersV3",
    "SalesOrderHeadersV2",
    "LedgerJournalLines",
)
LINE = "payment_to_customer_payment_line"

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


def offline_engine(url: str) -> Engine:
    """The engine ``paybridge serve`` builds, over the filled store; PayTrace and D365 are never
    called by the pages measured, except ``$metadata``, which the designer reads once and keeps
    for minutes: it is handed in from the sandbox's reference field lists (a file read)."""
    for name in ("PAYTRACE_USERNAME", "PAYTRACE_PASSWORD", "PAYTRACE_INTEGRATOR_ID",
                 "DYNAMICS_CLIENT_SECRET"):  # fmt: skip
        os.environ.setdefault(name, "bench")
    return build_engine(Settings(store=StoreSettings(url=url)))


def offline_desk(desk: MappingDesk, store: Store) -> None:
    entities = [json.loads(ENTITIES.joinpath(f"{n}.json").read_text()) for n in ENTITY_SETS]
    schemas = schema_from_entity_json(entities, {})

    async def fixed_schemas() -> Mapping[str, EntitySchema]:
        return schemas

    async def recent(template: CompiledTemplate, count: int) -> list[Sample]:
        """The newest payments' facts, as the real desk reads them (its replay also reads the
        line's intent, which the filled store does not hold)."""
        keys = [m["key"] for m in store.queue.dead_letters(limit=count)]
        return [Sample(k, store.queue.payload(k) or {}, {"company": "usmf"}) for k in keys]

    desk.schemas = fixed_schemas
    desk.samples = recent


def fill_charges(store: Store, n: int) -> None:
    now = datetime.now(UTC)
    rows = [{
        "idempotency_key": f"bench-{i}", "fingerprint": "0" * 64,
        "status": ("approved", "declined", "in_doubt")[i % 3 if i % 50 == 0 else 0],
        "request": json.dumps({"company": "usmf", "invoice_number": f"INV-{i:07d}", "amount": "10.00"}),
        "outcome": json.dumps({"amount": "10.00", "currency": "USD", "transaction_id": str(FIRST_TX + i)}),
        "attempts": 1, "created_at": now - timedelta(minutes=i), "updated_at": now - timedelta(minutes=i),
        "sent_at": now - timedelta(minutes=i),
    } for i in range(n)]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(charges), rows)


async def measure(url: str, n: int, requests: int) -> dict[str, tuple[float, float]]:
    engine = offline_engine(url)
    store = engine.store
    fill_charges(store, n // 10)
    for i in range(200):
        engine.subscriptions.add(NewSubscription(
            customer_id=f"C{i:05d}", d365=f"usmf/US-{i:03d}", amount=Money.of("19.99", "USD"),
            schedule=Schedule(frequency=Frequency("monthly"), start=date(2026, 1, 1)),
        ))  # fmt: skip
    app = build_api(engine)
    built: ConsoleServices = app.state.console
    assert built.designer is not None
    offline_desk(built.designer, store)
    started = time.perf_counter()
    indexed = built.payments.catch_up(limit=None)
    print(
        f"payment index, first build: {indexed:,} payments in {time.perf_counter() - started:.1f} s"
    )
    security = engine.security
    token = security.sessions.open("user:bench", "admin").token
    csrf = security.sessions.get(token).csrf  # type: ignore[union-attr]
    letter = store.queue.dead_letters(limit=1)[0]
    mid = str(FIRST_TX + n // 2 + 1)
    base = built.designer.templates().get(LINE)
    saved, _ = built.designer.save(
        base, {"PaymentNotes": "upper(description)"}, "user:bench", "bench"
    )
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
        "mapping templates": "/mapping",
        "designer": f"/mapping/{LINE}",
        "designer preview (POST)": (f"/mapping/{LINE}/preview", {
            "csrf": csrf, "base": "1", "src.PaymentNotes": "description", "fn.PaymentNotes": "upper"}),
        "version + dry run 20": f"/mapping/versions/{saved.id}?n=20",
        "charges": f"/charges?key=console-{'ab' * 10}",
        "charges in doubt": f"/charges?status=in_doubt&key=console-{'ab' * 10}",
        "charge": "/charges/bench-7",
        "subscriptions": "/subscriptions",
        "subscription": "/subscriptions/7",
        "flow": "/flow",
        "settings": "/admin/settings",
    }  # fmt: skip
    out: dict[str, tuple[float, float]] = {}
    transport = httpx.ASGITransport(app=app)
    await engine.aclose()  # its clients are never used: the pages read the store
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={COOKIE: token}
    ) as web:
        for name, path in pages.items():
            times = []
            for attempt in range(requests + 3):
                began = time.perf_counter()
                reply = await (web.post(path[0], data=path[1]) if isinstance(path, tuple)
                               else web.get(path))  # fmt: skip
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
