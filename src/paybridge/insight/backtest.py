"""The backtest: synthetic days through the scorer, the model against the rules-only baseline.

The first ``train_days`` feed history and the training rows; the remaining days are held out:
each transaction is scored against the history before it, and precision, recall, PR-AUC and
recall at 95% precision are computed on those. Three scorers: the rules alone (the baseline),
the unsupervised model (forest and rules, no labels at all), and the model as the retraining
job builds it from the store, where the labels are only what a fraud team would have recorded
by then: frauds confirmed in review (those the unsupervised model held) and frauds reported
later (chargebacks entered with ``review confirm``, ``reported`` of the rest); everything else
counts as legitimate, mistakes included. Latency is measured on the same stream.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from paybridge.insight.features import History
from paybridge.insight.model import Model
from paybridge.insight.rules import MAX_POINTS, rules_score
from paybridge.insight.synth import Labelled, Merchant

RULES_THRESHOLD = 5 / MAX_POINTS  # the baseline holds at 5 points (two strong rules, or more)


@dataclass(frozen=True)
class Figures:
    """One scorer's figures on the held-out days."""

    name: str
    precision: float  # at the threshold
    recall: float
    pr_auc: float
    recall_at_95: float


@dataclass(frozen=True)
class BacktestReport:
    days: int
    train_days: int
    transactions: int
    frauds: int
    by_pattern: dict[str, tuple[int, int]]  # pattern -> (caught by the model at threshold, all)
    model: Figures
    unsupervised: Figures
    rules: Figures
    labels_known: int  # confirmed frauds the learned layer was trained with
    threshold: float
    model_version: str
    model_ms: float  # per transaction, scored one at a time: features + model
    rules_ms: float  # the same with the rules only
    batch_ms: float  # per transaction, scored in the worker's batches of 200


def figures(name: str, labels: np.ndarray, scores: np.ndarray, threshold: float) -> Figures:
    flagged = scores >= threshold
    tp = int(np.sum(flagged & labels))
    precision = tp / max(int(np.sum(flagged)), 1)
    recall = tp / max(int(np.sum(labels)), 1)
    p, r, _ = precision_recall_curve(labels, scores)
    at_95 = float(np.max(r[p >= 0.95])) if np.any(p >= 0.95) else 0.0
    return Figures(name, precision, recall, float(average_precision_score(labels, scores)), at_95)


def run_backtest(
    days: int = 30,
    *,
    seed: int = 7,
    train_fraction: float = 0.4,
    threshold: float = 0.5,
    reported: float = 0.7,
    progress: Callable[[str], None] | None = None,
) -> BacktestReport:
    """Generate ``days`` days, train on the first part, score the rest; figures for both."""
    say = progress or (lambda _: None)
    merchant = Merchant(random.Random(seed))
    history = History()
    train_days = max(1, int(days * train_fraction))
    rows, truth = [], []
    for n in range(train_days):
        for item in merchant.day(n):
            rows.append(history.features(item.seen))
            truth.append(bool(item.fraud))
            history.add(item.seen)
        say(f"day {n + 1}/{days}: training history")
    unsupervised = Model.train(np.array(rows), seed=seed)
    known = _known_labels(unsupervised, np.array(rows), np.array(truth), threshold, reported, seed)
    model = Model.train(np.array(rows), known, seed=seed)
    held: list[Labelled] = []
    vectors = []
    started = time.perf_counter()
    for n in range(train_days, days):
        for item in merchant.day(n):
            vectors.append(history.features(item.seen))
            history.add(item.seen)
            held.append(item)
        say(f"day {n + 1}/{days}: held out")
    feature_s = (time.perf_counter() - started) / max(len(held), 1)
    matrix = np.array(vectors)
    scores = np.array([s.value for s in model.score_many(matrix)])
    plain = np.array([s.value for s in unsupervised.score_many(matrix)])
    baseline = np.array([rules_score(v) for v in matrix])
    labels = np.array([bool(item.fraud) for item in held])
    return BacktestReport(
        days=days, train_days=train_days, transactions=len(held), frauds=int(labels.sum()),
        by_pattern=_by_pattern(held, scores >= threshold), threshold=threshold,
        model=figures("model", labels, scores, threshold), labels_known=int(known.sum()),
        unsupervised=figures("unsupervised", labels, plain, threshold),
        rules=figures("rules only", labels, baseline, RULES_THRESHOLD), model_version=model.version,
        model_ms=(feature_s + _per_row(model, matrix, 1)) * 1000,
        rules_ms=(feature_s + _per_row(Model.rules_only(), matrix, 1)) * 1000,
        batch_ms=(feature_s + _per_row(model, matrix, 200)) * 1000,
    )  # fmt: skip


def _known_labels(
    model: Model, rows: np.ndarray, truth: np.ndarray, threshold: float, reported: float, seed: int
) -> np.ndarray:
    """What the store would hold as confirmed fraud: held and confirmed, or reported later."""
    held = np.array([s.value >= threshold for s in model.score_many(rows)])
    later = np.random.default_rng(seed).random(len(truth)) < reported
    return np.asarray(truth & (held | later))


def _by_pattern(held: list[Labelled], flagged: np.ndarray) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for item, hit in zip(held, flagged, strict=True):
        if item.fraud:
            caught, total = out.get(item.fraud, (0, 0))
            out[item.fraud] = (caught + int(hit), total + 1)
    return out


def _per_row(model: Model, matrix: np.ndarray, batch: int, sample: int = 2000) -> float:
    """Seconds per row to score ``sample`` rows ``batch`` at a time."""
    rows = matrix[:sample]
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        model.score_many(rows[i : i + batch])
    return (time.perf_counter() - started) / max(len(rows), 1)
