"""Queue throughput: enqueue + claim + ack messages per second, grouped commits vs one commit per message.

Usage: python bench/queue.py [--messages N] [--postgres URL]
Prints messages/s for the batched path and the one-commit-per-message baseline on the same store in
the same run, and their ratio (targets: >= 5,000 msg/s on SQLite, ratio >= 10).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py: keep its folder off sys.path so the stdlib's queue stays visible.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Sequence

from sqlalchemy import create_engine, text

from paybridge.clock import SystemClock
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.worker import Worker
from paybridge.store import open_engine


def envelopes(n: int, tag: str) -> list[Envelope]:
    return [
        Envelope(
            topic="bench",
            key=f"{tag}:{i}",
            partition_key=f"p{i % 512}",
            payload={"transaction_id": str(i), "amount": "12.30", "currency": "USD"},
        )
        for i in range(n)
    ]


async def _ok(envs: Sequence[Envelope]) -> list[Outcome]:
    return [Outcome.done()] * len(envs)


def batched(queue: SqlQueue, n: int) -> float:
    start = time.perf_counter()
    items = envelopes(n, "batch")
    for i in range(0, n, 500):
        queue.enqueue(items[i : i + 500])
    worker = Worker(queue, {"bench": _ok}, batch_size=500)

    async def drain() -> None:
        while await worker.run_once():
            pass

    asyncio.run(drain())
    elapsed = time.perf_counter() - start
    assert worker.stats.processed == n, worker.stats
    return n / elapsed


def one_by_one(queue: SqlQueue, n: int) -> float:
    start = time.perf_counter()
    for env in envelopes(n, "single"):
        queue.enqueue([env])
    done = 0
    while True:
        got = queue.claim("baseline", 1)
        if not got:
            break
        queue.ack(got)
        done += 1
    elapsed = time.perf_counter() - start
    assert done == n, done
    return n / elapsed


def measure(label: str, url: str, n: int, baseline_n: int) -> None:
    fast = batched(SqlQueue(open_engine(url), SystemClock()), n)
    slow = one_by_one(SqlQueue(open_engine(url), SystemClock()), baseline_n)
    print(f"{label}: batched {fast:,.0f} msg/s ({n} messages)")
    print(f"{label}: one commit per message {slow:,.0f} msg/s ({baseline_n} messages)")
    print(f"{label}: ratio {fast / slow:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--baseline-messages", type=int, default=2_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PAYBRIDGE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a = f"sqlite:///{Path(tmp) / 'a.db'}"
        measure("sqlite", a, args.messages, args.baseline_messages)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"postgres: skipped ({exc.__class__.__name__}: {exc})")
        return
    try:
        measure(
            "postgres",
            f"{args.postgres}?options=-csearch_path%3D{schema}",
            args.messages,
            args.baseline_messages,
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
