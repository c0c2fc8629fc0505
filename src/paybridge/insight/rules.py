"""The explainable rules: a points-based rules engine over the features, each rule with its words.

This is also the backtest's rules-only baseline, so it is written as a fraud team would write one
(thresholds a person can defend, points per rule, a sum), not tuned on the generator's labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from paybridge.insight.features import FEATURES

F = {name: i for i, name in enumerate(FEATURES)}
Vector = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Rule:
    name: str
    points: float
    fires: Callable[[Vector], bool]
    words: Callable[[Vector], str]


def _f(v: Vector, name: str) -> float:
    return float(v[F[name]])


RULES: tuple[Rule, ...] = (
    Rule("small_declines", 4, lambda v: _f(v, "ip_small_declines_1h") >= 3
         or _f(v, "card_declines_1h") >= 3,
         lambda v: f"card testing: {max(_f(v, 'ip_small_declines_1h'), _f(v, 'card_declines_1h')):.0f} "
         "declines from this card or IP in the last hour"),
    Rule("card_velocity", 3, lambda v: _f(v, "card_velocity_1h") >= 4,
         lambda v: f"card used {_f(v, 'card_velocity_1h'):.0f} times in the last hour"),
    Rule("ip_velocity", 2, lambda v: _f(v, "ip_velocity_1h") >= 5,
         lambda v: f"{_f(v, 'ip_velocity_1h'):.0f} transactions from this IP in the last hour"),
    Rule("amount_spike", 3, lambda v: _f(v, "amount_vs_customer") >= math.log(5),
         lambda v: f"amount {math.exp(_f(v, 'amount_vs_customer')):.1f}x the customer's usual"),
    Rule("avs", 2, lambda v: _f(v, "avs_mismatch") >= 1,
         lambda v: "billing address did not match (AVS)"),
    Rule("csc", 2, lambda v: _f(v, "csc_mismatch") >= 1,
         lambda v: "security code did not match (CSC)"),
    Rule("bin_country", 2, lambda v: _f(v, "bin_country_mismatch") >= 1,
         lambda v: "card issued in another country than the billing address"),
    Rule("refund_ratio", 3, lambda v: _f(v, "is_refund") >= 1 and _f(v, "refund_ratio_30d") > 0.5,
         lambda v: f"refunds are {_f(v, 'refund_ratio_30d'):.0%} of the customer's sales in 30 days"),
    Rule("new_customer_large", 2, lambda v: _f(v, "new_customer_amount") >= math.log(5),
         lambda v: f"first order {math.exp(_f(v, 'new_customer_amount')):.1f}x a usual first order"),
    Rule("new_card", 2, lambda v: _f(v, "new_card_for_customer") >= 1
         and _f(v, "new_ip_for_customer") >= 1,
         lambda v: "a card and an IP new for this customer"),
    Rule("night", 1, lambda v: _f(v, "night") >= 1,
         lambda v: "placed between midnight and 6 a.m. merchant time"),
)  # fmt: skip

MAX_POINTS = sum(rule.points for rule in RULES)


def rule_points(v: Vector) -> tuple[float, list[tuple[float, str]]]:
    """Points of the rules that fire on ``v`` and their (points, words), highest first."""
    fired = [(rule.points, rule.words(v)) for rule in RULES if rule.fires(v)]
    fired.sort(key=lambda item: -item[0])
    return sum(p for p, _ in fired), fired


def rules_score(v: Vector) -> float:
    """The baseline's score in [0, 1]: points over the most a transaction can collect."""
    return rule_points(v)[0] / MAX_POINTS
