"""The anomaly model: an isolation forest over robust-scaled features, blended with the rules.

A model is a pure function of its training rows and seed (``Model.train``), so a process that
reads the same rows rebuilds the same model: the store keeps which rows and seed made each
version (never a pickled object), and every score records the version that gave it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression

from paybridge.insight.features import FEATURES
from paybridge.insight.forest import FlatForest
from paybridge.insight.rules import MAX_POINTS, RULES, rule_points

Matrix = npt.NDArray[np.float64]
RULES_ONLY = "rules-only"

# How a feature far from usual reads, for the reasons the model adds to the rules' own.
WORDS = {
    "log_amount": "an unusual amount",
    "amount_vs_customer": "an amount far from this customer's usual",
    "customer_sales": "an unusual purchase history",
    "new_customer_amount": "a large first order",
    "card_velocity_1h": "many uses of this card in the last hour",
    "customer_velocity_1h": "many transactions of this customer in the last hour",
    "ip_velocity_1h": "many transactions from this IP in the last hour",
    "card_declines_1h": "recent declines on this card",
    "ip_small_declines_1h": "recent small declines from this IP",
    "avs_mismatch": "an address (AVS) mismatch",
    "csc_mismatch": "a security code (CSC) mismatch",
    "bin_country_mismatch": "a card from another country than the billing address",
    "refund_ratio_30d": "a high share of refunds",
    "is_refund": "a refund",
    "is_decline": "a decline",
    "night": "a night-time transaction",
    "customer_cards_24h": "several cards on this customer today",
    "customer_ips_24h": "several IPs on this customer today",
    "new_card_for_customer": "a card new to this customer",
    "customer_refunds_24h": "several refunds to this customer today",
    "new_ip_for_customer": "an IP new to this customer",
    "new_card_velocity_1h": "a card first seen today used again within the hour",
    "card_amount_1h": "a large total on this card in the last hour",
    "refund_over_sales": "a refund larger than any recent purchase",
    "refund_unmatched": "a refund of no recent purchase's amount",
    "small_decline": "a declined small amount (card testing)",
}
F = {name: i for i, name in enumerate(FEATURES)}
# Pairs that mean more together than apart (a linear layer cannot multiply on its own).
PAIRS = (
    ("is_refund", "refund_ratio_30d"),
    ("is_refund", "amount_vs_customer"),
    ("is_refund", "customer_refunds_24h"),
    ("new_card_for_customer", "bin_country_mismatch"),
    ("new_card_for_customer", "amount_vs_customer"),
    ("new_card_for_customer", "new_ip_for_customer"),
    ("is_decline", "ip_small_declines_1h"),
    ("new_ip_for_customer", "customer_sales"),  # a takeover of an account with a history
    ("new_card_for_customer", "customer_sales"),
)


@dataclass(frozen=True)
class Score:
    """A transaction's risk in [0, 1], its reasons in words (strongest first), the model version."""

    value: float
    reasons: tuple[str, ...]
    model_version: str
    rules: float
    anomaly: float


@dataclass
class Model:
    """A trained forest (or none: rules only), the learned layer when reviews taught one, and
    what it needs to explain itself."""

    version: str
    forest: FlatForest | None
    center: Matrix
    scale: Matrix
    reference: Matrix  # sorted anomaly scores of the training rows (for a percentile)
    weight: float = 0.5  # share of the anomaly percentile in the unsupervised blend
    learned: LogisticRegression | None = None

    @classmethod
    def rules_only(cls) -> Model:
        n = len(FEATURES)
        return cls(RULES_ONLY, None, np.zeros(n), np.ones(n), np.zeros(1), weight=0.0)

    @classmethod
    def train(
        cls, rows: Matrix, labels: npt.NDArray[np.bool_] | None = None, *, seed: int,
        trees: int = 100, weight: float = 0.5,
    ) -> Model:  # fmt: skip
        """Fit the forest on ``rows`` (no labels); with ``labels`` (confirmed frauds among them,
        at least 10 of each) also the learned layer. Fewer than 50 rows give rules only."""
        if len(rows) < 50:
            return cls.rules_only()
        center = np.median(rows, axis=0)
        q75, q25 = np.percentile(rows, [75, 25], axis=0)
        scale = np.where(q75 - q25 > 0, q75 - q25, np.maximum(np.std(rows, axis=0), 1.0))
        scaled = (rows - center) / scale
        sk = IsolationForest(
            n_estimators=trees, max_samples=min(256, len(rows)), random_state=seed
        ).fit(scaled)
        forest = FlatForest.of(sk)
        reference = np.sort(forest.anomaly(scaled))
        digest = hashlib.sha256(rows.tobytes() + f"{seed}:{trees}:{weight}".encode())
        model = cls("", forest, center, scale, reference, weight)
        if labels is not None and 10 <= int(labels.sum()) <= len(labels) - 10:
            digest.update(labels.tobytes())
            model.learned = LogisticRegression(C=10.0, max_iter=5000).fit(
                model.design(rows, scaled), labels
            )
        kind = "lr" if model.learned is not None else "if"
        model.version = f"{kind}-{digest.hexdigest()[:12]}"
        return model

    def design(self, rows: Matrix, scaled: Matrix) -> Matrix:
        """The learned layer's inputs: clipped scaled features, rule hits, anomaly percentile."""
        hits = np.array([[float(rule.fires(row)) for rule in RULES] for row in rows])
        pairs = np.column_stack([rows[:, F[a]] * rows[:, F[b]] for a, b in PAIRS])
        clipped = np.clip(scaled, -10, 10)
        return np.hstack([clipped, np.clip(pairs, -10, 10), hits, self._anomaly(scaled)[:, None]])

    def _anomaly(self, scaled: Matrix) -> Matrix:
        if self.forest is None:
            return np.zeros(len(scaled))
        raw = self.forest.anomaly(scaled)
        return np.searchsorted(self.reference, raw, side="right") / len(self.reference)

    def score_many(self, rows: Matrix) -> list[Score]:
        """Scores of many vectors at once (cheaper per row in a batch)."""
        if len(rows) == 0:
            return []
        scaled = (rows - self.center) / self.scale
        anomaly = self._anomaly(scaled)
        learned = (
            self.learned.predict_proba(self.design(rows, scaled))[:, 1]
            if self.learned is not None
            else None
        )
        return [
            self._score(rows[i], scaled[i], float(anomaly[i]),
                        None if learned is None else float(learned[i]))
            for i in range(len(rows))
        ]  # fmt: skip

    def _score(self, row: Matrix, scaled: Matrix, anomaly: float, learned: float | None) -> Score:
        points, fired = rule_points(row)
        rules = points / MAX_POINTS
        # The anomaly percentile counts from the forest's top 10% only: being in the usual 90%
        # is no evidence either way, so it adds nothing.
        tail = max(0.0, (anomaly - 0.9) / 0.1)
        value = 1.0 - (1.0 - rules) * (1.0 - self.weight * tail)
        if learned is not None:
            value = learned
        reasons = [words for _, words in fired]
        if tail > 0:
            reasons += self._unusual(scaled, {w for w in reasons})
        return Score(round(value, 6), tuple(reasons[:5]), self.version, rules, anomaly)

    def _unusual(self, scaled: Matrix, said: set[str]) -> list[str]:
        """The features furthest from the training median, in words, strongest first."""
        order = np.argsort(-np.abs(scaled))
        out = []
        for i in order[:3]:
            if abs(scaled[i]) < 2 or not math.isfinite(scaled[i]):
                break
            out.append(f"unusual for this merchant: {WORDS[FEATURES[i]]}")
        return [w for w in out if w not in said]
