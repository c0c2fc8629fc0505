"""Benchmark: what fraud scoring adds per transaction, and the mapping suggestions' accuracy.

Scoring: a synthetic merchant's transactions (bench data made by ``paybridge.insight.synth``)
are turned into features against their history and scored by the trained model, one at a time
(a lone payment) and in the worker's batches of 200, against the rules-only baseline over the
same features in the same run. Also the same through the engine's screen with its SQLite store
(history read, score written), per transaction in batches of 200. Prints milliseconds and the
extra latency over the baseline; exits non-zero when one lone transaction's extra latency
exceeds --max-extra-ms (default 2).

Suggestions: top-1 and top-3 accuracy on the shipped labelled set against difflib.

Run: .venv/bin/python bench/insight.py [--days 12] [--max-extra-ms 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py would shadow the standard library's queue, which joblib (scikit-learn) imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np

from paybridge.clock import ManualClock
from paybridge.insight.features import History, Seen
from paybridge.insight.model import Model
from paybridge.insight.models import ModelCache
from paybridge.insight.screen import InsightScreen, Policy
from paybridge.insight.store import InsightStore
from paybridge.insight.suggest import Suggester
from paybridge.insight.suggest_eval import evaluate
from paybridge.insight.synth import Merchant
from paybridge.model import Money, Transaction, TransactionKind, TransactionStatus
from paybridge.runtime.queue import SqlQueue
from paybridge.store.database import open_engine

LABELS = Path(__file__).with_name("data") / "mapping_labels.json"


def per_row_ms(work: Callable[[], int]) -> float:
    started = time.perf_counter()
    rows = work()
    return (time.perf_counter() - started) * 1000 / rows


def stream(days: int, seed: int) -> tuple[list[Seen], Model, History]:
    merchant, history, rows = Merchant(random.Random(seed)), History(), []
    train = [item for n in range(days) for item in merchant.day(n)]
    for item in train:
        rows.append(history.features(item.seen))
        history.add(item.seen)
    labels = np.array([bool(item.fraud) for item in train])
    model = Model.train(np.array(rows), labels, seed=seed)
    return [item.seen for item in merchant.day(days) + merchant.day(days + 1)], model, history


def scoring(days: int, seed: int) -> dict[str, float]:
    probe, model, history = stream(days, seed)
    rules = Model.rules_only()

    def lone(scorer: Model) -> Callable[[], int]:
        def work() -> int:
            for s in probe:
                scorer.score_many(history.features(s)[None, :])
            return len(probe)

        return work

    def batched(scorer: Model) -> Callable[[], int]:
        def work() -> int:
            for i in range(0, len(probe), 200):
                chunk = probe[i : i + 200]
                scorer.score_many(np.array([history.features(s) for s in chunk]))
            return len(probe)

        return work

    return {
        "transactions": float(len(probe)),
        "model_lone_ms": per_row_ms(lone(model)), "rules_lone_ms": per_row_ms(lone(rules)),
        "model_batch_ms": per_row_ms(batched(model)), "rules_batch_ms": per_row_ms(batched(rules)),
    }  # fmt: skip


def _tx(s: Seen, n: int) -> Transaction:
    kind = TransactionKind(s.kind)
    status = (
        TransactionStatus.DECLINED
        if kind is TransactionKind.DECLINE
        else TransactionStatus.APPROVED
    )
    return Transaction(
        transaction_id=str(100000 + n), kind=kind, status=status,
        amount=Money(amount=Decimal(str(s.amount)).quantize(Decimal("0.01")), currency="USD"),
        occurred_at=s.at, customer_id=s.customer or None, masked_card=s.card or None,
        client_ip=s.ip, avs_response=s.avs, csc_response=s.csc, billing_country=s.billing_country,
    )  # fmt: skip


def screen_ms(days: int, seed: int) -> float:
    """Per transaction through the engine's screen on SQLite: history read, score written."""
    merchant = Merchant(random.Random(seed))
    txs = [
        _tx(item.seen, n) for n, item in enumerate(i for d in range(days) for i in merchant.day(d))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(txs[-1].occurred_at)
        engine = open_engine(f"sqlite:///{tmp}/bench.db")

        store = InsightStore(engine, clock)
        screen = InsightScreen(
            store, ModelCache(store, clock), SqlQueue(engine, clock), Policy(), clock
        )
        warm, timed = txs[:-1000], txs[-1000:]
        for i in range(0, len(warm), 200):
            asyncio.run(screen.screen(warm[i : i + 200]))
        started = time.perf_counter()
        for i in range(0, len(timed), 200):
            asyncio.run(screen.screen(timed[i : i + 200]))
        return (time.perf_counter() - started) * 1000 / len(timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-extra-ms", type=float, default=2.0)
    args = parser.parse_args()
    f = scoring(args.days, args.seed)
    extra = f["model_lone_ms"] - f["rules_lone_ms"]
    print(f"scoring {f['transactions']:.0f} transactions after {args.days} days of history")
    print(f"  one at a time:    model {f['model_lone_ms']:.3f} ms, rules only {f['rules_lone_ms']:.3f} ms"
          f" -> extra {extra:.3f} ms ({f['model_lone_ms'] / f['rules_lone_ms']:.1f}x the baseline)")  # fmt: skip
    print(f"  batches of 200:   model {f['model_batch_ms']:.3f} ms, rules only {f['rules_batch_ms']:.3f} ms"
          f" -> extra {f['model_batch_ms'] - f['rules_batch_ms']:.3f} ms")  # fmt: skip
    print(
        f"  engine screen (SQLite, history read + score written), batches of 200: {screen_ms(args.days, args.seed):.3f} ms"
    )
    tasks = json.loads(LABELS.read_text(encoding="utf-8"))["tasks"]
    suggester = Suggester()
    for name, acc in (("all labels", evaluate(tasks, suggester)),
                      ("names differ", evaluate(tasks, suggester, differing=True))):  # fmt: skip
        print(f"suggestions, {name} ({acc.labels}): top-1 {acc.top1:.1%} (difflib {acc.base_top1:.1%}), "
              f"top-3 {acc.top3:.1%} (difflib {acc.base_top3:.1%}), +{(acc.top3 - acc.base_top3) * 100:.1f} points")  # fmt: skip
    if extra > args.max_extra_ms:
        print(
            f"FAIL: {extra:.3f} ms extra per lone transaction > {args.max_extra_ms} ms",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
