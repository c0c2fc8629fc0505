"""The scorer's parts: the flat forest equals scikit-learn's, features read only the past, rules
explain in words, models are reproducible from their rows and seed, the backtest measures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

np = pytest.importorskip("numpy", reason="needs the insight extra")
pytest.importorskip("sklearn", reason="needs the insight extra")

from sklearn.ensemble import IsolationForest

from paybridge.insight.backtest import figures, run_backtest
from paybridge.insight.features import FEATURES, History, Seen
from paybridge.insight.forest import FlatForest
from paybridge.insight.model import RULES_ONLY, Model
from paybridge.insight.rules import rule_points
from paybridge.insight.synth import Merchant

T0 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
F = {name: i for i, name in enumerate(FEATURES)}


def seen(
    n: int, kind: str = "sale", amount: float = 20.0, minutes: float = 0, **kw: object
) -> Seen:
    base = {"customer": "C1", "card": "411111******1111", "ip": "198.51.100.7"}
    base.update(kw)  # type: ignore[arg-type]
    return Seen(key=f"k{n}", at=T0 + timedelta(minutes=minutes), kind=kind, amount=amount, **base)  # type: ignore[arg-type]


def test_the_flat_forest_scores_exactly_as_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(2000, 7))
    rows[:, 2] = np.round(rows[:, 2])  # ties on thresholds
    forest = IsolationForest(n_estimators=60, max_samples=200, random_state=1).fit(rows)
    probe = np.vstack([rows[:300], rng.normal(scale=4, size=(100, 7))])
    assert np.allclose(
        FlatForest.of(forest).anomaly(probe), -forest.score_samples(probe), atol=1e-12
    )


def test_features_read_only_what_came_before() -> None:
    history = History()
    first = history.features(seen(1))
    assert first[F["card_velocity_1h"]] == 0 and first[F["customer_sales"]] == 0
    history.add(seen(1))
    for n in range(2, 6):
        history.add(seen(n, kind="decline", amount=2.0, minutes=n))
    v = history.features(seen(9, amount=400.0, minutes=10))
    assert v[F["card_velocity_1h"]] == 5
    assert v[F["card_declines_1h"]] == 4 and v[F["ip_small_declines_1h"]] == 4
    later = history.features(seen(10, minutes=2 * 60))  # an hour and more later: none count
    assert later[F["card_velocity_1h"]] == 0


def test_a_refund_beyond_the_sales_and_a_new_card_and_ip_are_seen() -> None:
    history = History()
    for n in range(3):
        history.add(seen(n, amount=50.0, minutes=n))
    refund = history.features(seen(5, kind="refund", amount=120.0, minutes=10))
    assert refund[F["refund_ratio_30d"]] == pytest.approx(120 / 150)
    takeover = history.features(seen(6, minutes=20, card="522222******2222", ip="203.0.113.1"))
    assert takeover[F["new_card_for_customer"]] == 1 and takeover[F["new_ip_for_customer"]] == 1


def test_a_takeover_stays_new_for_a_day_and_a_new_card_used_again_counts() -> None:
    history = History()
    for n in range(3):
        history.add(seen(n, amount=50.0, minutes=n - 3 * 24 * 60))  # days ago
    thief = {"card": "522222******2222", "ip": "203.0.113.1"}
    for n, minutes in enumerate((0, 20, 40)):
        v = history.features(seen(10 + n, amount=150.0, minutes=minutes, **thief))
        history.add(seen(10 + n, amount=150.0, minutes=minutes, **thief))
        # Every sale of the spree is on a card and IP new to the customer, not only the first.
        assert v[F["new_card_for_customer"]] == 1 and v[F["new_ip_for_customer"]] == 1
        assert v[F["new_card_velocity_1h"]] == n  # the card was first seen today
        assert v[F["card_amount_1h"]] == pytest.approx(np.log1p(150.0 * (n + 1)))
    later = history.features(seen(20, minutes=25 * 60, **thief))
    assert later[F["new_card_for_customer"]] == 0 and later[F["new_card_velocity_1h"]] == 0
    usual = history.features(seen(21, minutes=30))  # the customer's own card: never new
    assert usual[F["new_card_for_customer"]] == 0 and usual[F["new_card_velocity_1h"]] == 0


def test_refunds_are_matched_with_purchases_and_small_declines_stand_out() -> None:
    history = History()
    for n, amount in enumerate((40.0, 55.5, 70.0)):
        history.add(seen(n, amount=amount, minutes=n))
    full = history.features(seen(5, kind="refund", amount=55.5, minutes=10))
    assert full[F["refund_unmatched"]] == 0 and full[F["refund_over_sales"]] == 0
    odd = history.features(seen(6, kind="refund", amount=61.0, minutes=10))
    assert odd[F["refund_unmatched"]] == 1 and odd[F["refund_over_sales"]] == 0
    big = history.features(seen(7, kind="refund", amount=160.0, minutes=10))
    assert big[F["refund_over_sales"]] == pytest.approx(np.log(161 / 71))
    sale = history.features(seen(8, amount=61.0, minutes=10))
    assert sale[F["refund_unmatched"]] == 0 and sale[F["refund_over_sales"]] == 0
    assert history.features(seen(9, kind="decline", amount=1.5))[F["small_decline"]] == 1
    assert history.features(seen(9, kind="decline", amount=45.0))[F["small_decline"]] == 0
    assert history.features(seen(9, amount=1.5))[F["small_decline"]] == 0


def test_rules_give_points_and_words() -> None:
    history = History()
    for n in range(4):
        history.add(seen(n, amount=20.0, minutes=n))
    v = history.features(seen(9, amount=500.0, minutes=5, avs="No Match"))
    points, fired = rule_points(v)
    words = [w for _, w in fired]
    assert points == 3 + 3 + 2  # amount spike, card velocity (4 uses), AVS
    assert any("x the customer's usual" in w for w in words)
    assert "billing address did not match (AVS)" in words


def _rows(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    merchant, history, rows, labels = (
        Merchant(random.Random(seed), customers=300),
        History(),
        [],
        [],
    )
    for day in range(4):
        for item in merchant.day(day):
            rows.append(history.features(item.seen))
            labels.append(bool(item.fraud))
            history.add(item.seen)
    return np.array(rows), np.array(labels)


def test_a_model_is_the_same_from_the_same_rows_and_seed() -> None:
    rows, labels = _rows()
    a, b = Model.train(rows, labels, seed=5), Model.train(rows, labels, seed=5)
    assert a.version == b.version and a.version.startswith("lr-")
    assert [s.value for s in a.score_many(rows[:50])] == [s.value for s in b.score_many(rows[:50])]
    assert Model.train(rows, labels, seed=6).version != a.version
    assert Model.train(rows[:10], seed=5).version == RULES_ONLY  # too few rows: rules only


def test_every_score_carries_its_version_and_reasons_in_words() -> None:
    rows, _ = _rows()
    model = Model.train(rows, seed=5)
    scores = model.score_many(rows)
    assert all(0 <= s.value <= 1 and s.model_version == model.version for s in scores)
    top = max(scores, key=lambda s: s.value)
    assert top.reasons and all(isinstance(r, str) and r for r in top.reasons)


def test_the_generator_is_reproducible_and_labels_every_pattern() -> None:
    a = [
        (i.seen.key, i.seen.amount, i.fraud)
        for d in range(6)
        for i in Merchant(random.Random(4), 300).day(d)
    ]
    b = [
        (i.seen.key, i.seen.amount, i.fraud)
        for d in range(6)
        for i in Merchant(random.Random(4), 300).day(d)
    ]
    assert a == b
    assert {f for _, _, f in a} >= {"", "velocity_burst", "amount_spike", "account_takeover"}
    assert 0.005 < sum(1 for *_, f in a if f) / len(a) < 0.1


def test_figures_are_computed_from_the_scores() -> None:
    labels = np.array([True, True, False, False, False])
    got = figures("x", labels, np.array([0.9, 0.4, 0.6, 0.1, 0.2]), 0.5)
    assert (got.precision, got.recall) == (0.5, 0.5)
    assert got.recall_at_95 == 0.5  # only the top score keeps precision >= 95%


@pytest.mark.parametrize("seed", [3, 5])
def test_on_held_out_days_the_model_meets_the_issue_bar(seed: int) -> None:
    """Issue 18's bar on a shorter run (15 days, 6 to train; bench/insight_seeds.py runs 30 days
    over seeds 1-20): PR-AUC >= 0.9 and recall at 95% precision >= 2x the rules-only baseline."""
    report = run_backtest(15, seed=seed)
    assert report.frauds > 100
    assert report.model.pr_auc >= 0.9, report.model
    assert report.model.recall_at_95 >= 2 * report.rules.recall_at_95, (report.model, report.rules)
    assert report.model.pr_auc > report.rules.pr_auc + 0.15
