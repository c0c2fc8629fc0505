"""What a transaction looks like to the scorer: the ``Seen`` record and its features against history.

``History`` keeps, per customer, card (masked number), IP and in the whole, what PayBridge saw
lately (24 hours per entity, 30 days of sales and refunds per customer); ``History.features``
reads one transaction against it *before* the transaction joins it, so a transaction is never
compared with itself. The same code feeds the live screen, the retraining job and the backtest.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

HOUR = 3600.0
DAY = 24 * HOUR
SMALL = 10.0  # a "small" amount in the merchant's currency: what card testers try
MONEY_IN = ("sale", "authorization", "capture")

AVS_BAD = {"no match": 1.0, "zip match only": 0.5, "address match only": 0.5}
CSC_BAD = {"no match": 1.0, "not processed": 0.3}

FEATURES = (
    "log_amount",
    "amount_vs_customer",
    "customer_sales",
    "new_customer_amount",
    "card_velocity_1h",
    "customer_velocity_1h",
    "ip_velocity_1h",
    "card_declines_1h",
    "ip_small_declines_1h",
    "avs_mismatch",
    "csc_mismatch",
    "bin_country_mismatch",
    "refund_ratio_30d",
    "is_refund",
    "is_decline",
    "night",
    "customer_cards_24h",
    "customer_ips_24h",
    "new_card_for_customer",
    "customer_refunds_24h",
    "new_ip_for_customer",
    "new_card_velocity_1h",
    "card_amount_1h",
    "refund_over_sales",
    "refund_unmatched",
    "small_decline",
)


@dataclass(frozen=True, slots=True)
class Seen:
    """One transaction as the scorer needs it: no card number, only the masked one."""

    key: str
    at: datetime  # aware UTC
    kind: str  # sale, authorization, capture, refund, void, settlement, decline
    amount: float  # major units; features only, money itself stays Decimal elsewhere
    customer: str = ""
    card: str = ""  # masked number (BIN and last four at most)
    ip: str = ""
    avs: str = ""
    csc: str = ""
    bin_country: str = ""
    billing_country: str = ""
    local_hour: int = 12  # the merchant's local hour

    @property
    def is_money_in(self) -> bool:
        return self.kind in MONEY_IN


@dataclass(slots=True)
class _Trail:
    """An entity's recent events: (time, kind, amount, card, ip)."""

    events: deque[tuple[float, str, float, str, str]] = field(default_factory=deque)

    def trim(self, now: float, keep: float) -> None:
        while self.events and now - self.events[0][0] > keep:
            self.events.popleft()

    def since(self, now: float, window: float) -> Iterable[tuple[float, str, float, str, str]]:
        return (e for e in reversed(self.events) if now - e[0] <= window)


@dataclass(slots=True)
class _Customer:
    sales: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    # card or IP -> (first seen, whether the customer had bought before it): new for 24 hours
    cards: dict[str, tuple[float, bool]] = field(default_factory=dict)
    ips: dict[str, tuple[float, bool]] = field(default_factory=dict)
    money: deque[tuple[float, float, float]] = field(default_factory=deque)  # t, sale, refund


class History:
    """Recent transactions by customer, card and IP; ``features`` reads, ``add`` remembers."""

    def __init__(self) -> None:
        self.cards: dict[str, _Trail] = {}
        self.customers: dict[str, _Trail] = {}
        self.ips: dict[str, _Trail] = {}
        self.profiles: dict[str, _Customer] = {}
        self.first_orders = _Customer()  # what new customers usually spend first
        self.card_first: dict[str, float] = {}  # when each card was first seen, any customer

    def features(self, tx: Seen) -> npt.NDArray[np.float64]:
        """The feature vector of ``tx`` (in ``FEATURES`` order) against what came before it."""
        now = tx.at.timestamp()
        card = self._trail(self.cards, tx.card, now)
        cust = self._trail(self.customers, tx.customer, now)
        ip = self._trail(self.ips, tx.ip, now)
        profile = self.profiles.get(tx.customer) if tx.customer else None
        card_1h = list(card.since(now, HOUR)) if tx.card else []
        ip_1h = list(ip.since(now, HOUR)) if tx.ip else []
        cust_24h = list(cust.since(now, DAY)) if tx.customer else []
        card_new = bool(tx.card) and now - self.card_first.get(tx.card, now) <= DAY
        return np.array(
            [
                math.log1p(max(tx.amount, 0.0)),
                _amount_vs(profile, tx.amount),
                math.log1p(profile.sales) if profile else 0.0,
                _new_customer_amount(profile, self.first_orders, tx),
                float(len(card_1h)),
                float(sum(1 for e in cust_24h if now - e[0] <= HOUR)),
                float(len(ip_1h)),
                float(sum(1 for e in card_1h if e[1] == "decline")),
                float(sum(1 for e in ip_1h if e[1] == "decline" and e[2] <= SMALL)),
                AVS_BAD.get(tx.avs.strip().lower(), 0.0),
                CSC_BAD.get(tx.csc.strip().lower(), 0.0),
                float(bool(tx.bin_country and tx.billing_country)
                      and tx.bin_country.upper() != tx.billing_country.upper()),
                _refund_ratio(profile, now, tx),
                float(tx.kind == "refund"),
                float(tx.kind == "decline"),
                float(tx.local_hour < 6),
                float(len({e[3] for e in cust_24h if e[3]} | ({tx.card} if tx.card else set()))),
                float(len({e[4] for e in cust_24h if e[4]} | ({tx.ip} if tx.ip else set()))),
                _new_to(profile, profile.cards if profile else {}, tx.card, now),
                float(sum(1 for e in cust_24h if e[1] == "refund") + (tx.kind == "refund")),
                _new_to(profile, profile.ips if profile else {}, tx.ip, now),
                float(len(card_1h)) if card_new else 0.0,
                math.log1p(sum(e[2] for e in card_1h if e[1] in MONEY_IN)
                           + (max(tx.amount, 0.0) if tx.is_money_in else 0.0)),
                _refund_over_sales(profile, now, tx),
                _refund_unmatched(profile, now, tx),
                float(tx.kind == "decline" and tx.amount <= SMALL),
            ],
            dtype=np.float64,
        )  # fmt: skip

    def add(self, tx: Seen) -> None:
        """Remember ``tx`` (after it was scored)."""
        now = tx.at.timestamp()
        event = (now, tx.kind, tx.amount, tx.card, tx.ip)
        if tx.card:
            self.card_first.setdefault(tx.card, now)
        for trails, name in (
            (self.cards, tx.card),
            (self.customers, tx.customer),
            (self.ips, tx.ip),
        ):
            if name:
                trails.setdefault(name, _Trail()).events.append(event)
        if not tx.customer:
            return
        profile = self.profiles.setdefault(tx.customer, _Customer())
        if tx.kind != "decline":
            for known, name in ((profile.cards, tx.card), (profile.ips, tx.ip)):
                if name and name not in known:
                    known[name] = (now, profile.sales > 0)
        if tx.kind in ("sale", "capture"):
            if profile.sales == 0:
                _learn(self.first_orders, tx.amount)
            _learn(profile, tx.amount)
            profile.money.append((now, tx.amount, 0.0))
        elif tx.kind == "refund":
            profile.money.append((now, 0.0, tx.amount))

    @staticmethod
    def _trail(trails: dict[str, _Trail], name: str, now: float) -> _Trail:
        trail = trails.get(name) if name else None
        if trail is None:
            return _Trail()
        trail.trim(now, DAY)
        return trail


def _learn(profile: _Customer, amount: float) -> None:
    profile.sales += 1
    profile.total += amount
    profile.total_sq += amount * amount


def _amount_vs(profile: _Customer | None, amount: float) -> float:
    """log of the amount over the customer's mean sale (0 with fewer than two sales)."""
    if profile is None or profile.sales < 2:
        return 0.0
    mean = profile.total / profile.sales
    return math.log((amount + 1.0) / (mean + 1.0))


def _new_customer_amount(profile: _Customer | None, first: _Customer, tx: Seen) -> float:
    """For a first order: log of its amount over what first orders usually are; 0 otherwise."""
    if (profile is not None and profile.sales) or not tx.is_money_in or first.sales < 10:
        return 0.0
    return math.log((tx.amount + 1.0) / (first.total / first.sales + 1.0))


def _new_to(
    profile: _Customer | None, known: dict[str, tuple[float, bool]], name: str, now: float
) -> float:
    """1 for a card (or IP) this customer, who had bought before, first used in the last 24 hours
    (a takeover keeps its new card for the whole spree), else 0."""
    if profile is None or not profile.sales or not name:
        return 0.0
    first = known.get(name)
    if first is None:
        return 1.0
    return float(first[1] and now - first[0] <= DAY)


def _refund_over_sales(profile: _Customer | None, now: float, tx: Seen) -> float:
    """For a refund: log of its amount over the customer's largest sale in 30 days (0 when a sale
    could cover it); a refund of more than was ever bought in one go refunds no one purchase."""
    if tx.kind != "refund":
        return 0.0
    largest = (
        max((m[1] for m in profile.money if now - m[0] <= 30 * DAY), default=0.0)
        if profile
        else 0.0
    )
    return max(0.0, math.log((tx.amount + 1.0) / (largest + 1.0)))


def _refund_unmatched(profile: _Customer | None, now: float, tx: Seen) -> float:
    """1 for a refund whose amount is no purchase of the customer's in 30 days (a full refund
    matches its sale to the cent), else 0."""
    if tx.kind != "refund":
        return 0.0
    sales = (m[1] for m in profile.money if now - m[0] <= 30 * DAY) if profile else ()
    return float(not any(abs(sale - tx.amount) < 0.005 for sale in sales))


def _refund_ratio(profile: _Customer | None, now: float, tx: Seen) -> float:
    """Refunds over sales of the customer in 30 days, this refund included."""
    if profile is None:
        return 1.0 if tx.kind == "refund" else 0.0
    while profile.money and now - profile.money[0][0] > 30 * DAY:
        profile.money.popleft()
    sales = sum(m[1] for m in profile.money)
    refunds = sum(m[2] for m in profile.money) + (tx.amount if tx.kind == "refund" else 0.0)
    if refunds == 0:
        return 0.0
    return min(refunds / sales, 5.0) if sales else 5.0
