"""Queue throughput: enqueue + claim + ack messages per second, this code against the queue before it.

Usage: python bench/queue.py [--messages N] [--repeat R] [--baseline-ref REF] [--postgres URL]

For each store (SQLite in a temporary file, PostgreSQL in a schema of its own), publishes N
messages in batches of 500 and drains them with a ``Worker`` claiming 500 at a time (group
commit: one transaction per batch of claims and one per batch of acks), first with this
code, then with the code of git revision REF (default: the revision before the batch inserts
and the one-statement claim), alternating R times on fresh stores. Each run is a child
process; REF's runs import REF's whole ``src/`` (``git archive``), so its queue meets its own
schema (migrations and indexes), not this one's. Prints msg/s for each run, the best and
median of each, and their ratio; the targets are >= 10,000 msg/s on SQLite and >= 20,000 on
PostgreSQL.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py: keep its folder off sys.path so the stdlib's queue stays visible.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text

from paybridge.clock import SystemClock
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.worker import Worker
from paybridge.store import open_engine

BASELINE_REF = "614e82b"  # the queue before this benchmark's work (main, 2026-12-03)
TARGETS = {"sqlite": 10_000, "postgres": 20_000}
REPO = Path(__file__).resolve().parent.parent


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


def batched(queue: Any, n: int) -> float:
    """Publish ``n`` in batches of 500, then drain them; messages per second, end to end."""
    items = envelopes(n, "batch")
    start = time.perf_counter()
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


def baseline_source(ref: str, into: Path) -> Path | None:
    """REF's ``src/`` unpacked under ``into`` (None when git cannot give it)."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref, "src"], check=True, capture_output=True
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"baseline {ref}: not available ({exc.__class__.__name__})")
        return None
    return into / "src"


@contextmanager
def fresh_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def fresh_postgres(base: str) -> Iterator[str]:
    schema = f"bench_speed_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def child(label: str, n: int, postgres: str) -> None:
    """One run on a fresh store, with whatever ``paybridge`` this process imports."""
    fresh = fresh_sqlite() if label == "sqlite" else fresh_postgres(postgres)
    with fresh as url:
        engine = open_engine(url)
        print(batched(SqlQueue(engine, SystemClock()), n))
        engine.dispose()


def run_child(label: str, n: int, postgres: str, src: Path | None) -> float:
    env = dict(os.environ)
    if src is not None:  # the baseline: its own code, schema and migrations
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, __file__, "--child", label, "--messages", str(n), "--postgres", postgres],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def measure(label: str, n: int, repeat: int, postgres: str, old: Path | None) -> None:
    runs: dict[str, list[float]] = {"this code": [], "baseline": []}
    for _ in range(repeat):
        runs["this code"].append(run_child(label, n, postgres, None))
        if old is not None:
            runs["baseline"].append(run_child(label, n, postgres, old))
    for name, figures in runs.items():
        if figures:
            shown = ", ".join(f"{f:,.0f}" for f in figures)
            print(f"{label}: {name:<9} msg/s {shown} (best {max(figures):,.0f}, "
                  f"median {statistics.median(figures):,.0f}; {n:,} messages a run)")  # fmt: skip
    mine, base = runs["this code"], runs["baseline"]
    if base:
        print(
            f"{label}: ratio this code / baseline: median {statistics.median(mine) / statistics.median(base):.1f}x, "
            f"best {max(mine) / max(base):.1f}x"
        )
    target = TARGETS[label]
    verdict = "met" if statistics.median(mine) >= target else "NOT met"
    print(f"{label}: target >= {target:,} msg/s (median): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PAYBRIDGE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--child", choices=sorted(TARGETS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.messages, args.postgres)
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = baseline_source(args.baseline_ref, Path(tmp))
        measure("sqlite", args.messages, args.repeat, args.postgres, old)
        try:
            with fresh_postgres(args.postgres):
                pass
        except Exception as exc:
            print(f"postgres: skipped ({exc.__class__.__name__}: {exc})")
            return
        measure("postgres", args.messages, args.repeat, args.postgres, old)


if __name__ == "__main__":
    main()
