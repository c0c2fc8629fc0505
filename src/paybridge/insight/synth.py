"""Synthetic merchant days for the backtest: a customer mix, seasonality, refunds, and labelled fraud.

Legitimate traffic is noisy on purpose, so a rule has honest false positives: offices share an
IP, travellers' cards come from abroad, some addresses fail AVS, B2B customers open with a large
order, people buy at night and get refunds. Fraud is injected in five labelled patterns (card
testing, velocity bursts, amount spikes, refund abuse, account takeover), each drawn from ranges
rather than fixed values. Everything comes from the injected ``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from paybridge.insight.features import Seen

TZ = ZoneInfo("America/Los_Angeles")
COUNTRIES = ("US",) * 17 + ("CA", "GB", "DE")
AVS = (
    ("Full Exact Match",) * 85
    + ("Zip Match Only",) * 7
    + ("No Match",) * 5
    + ("Address Unavailable",) * 3
)
CSC = ("Match",) * 94 + ("No Match",) * 2 + ("",) * 4
HOURLY = (1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 13, 13, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
PATTERNS = ("card_testing", "velocity_burst", "amount_spike", "refund_abuse", "account_takeover")


@dataclass(frozen=True)
class Labelled:
    seen: Seen
    fraud: str  # "" for legitimate, else the pattern's name


@dataclass
class Customer:
    id: str
    mean: float
    country: str
    cards: list[str]
    ips: list[str]
    rate: float  # purchases per day
    sales: list[tuple[datetime, float, str]] = field(default_factory=list)


class Merchant:
    """A merchant's customers and the days they make; ``day(n)`` is one labelled day."""

    def __init__(
        self, rng: random.Random, customers: int = 2000, start: date | None = None
    ) -> None:
        self.rng = rng
        self.start = start or date(2026, 3, 2)
        self.offices = [self._ip() for _ in range(12)]  # shared by several customers
        self.customers = [self._customer(n) for n in range(customers)]
        self.count = 0
        self.next_customer = customers
        self.pending: list[tuple[datetime, Customer, float]] = []  # refunds due on a later day

    def _ip(self) -> str:
        r = self.rng
        return f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def _card(self) -> str:
        return f"{self.rng.choice('456')}{self.rng.randint(10000, 99999)}******{self.rng.randint(1000, 9999)}"

    def _customer(self, n: int) -> Customer:
        r = self.rng
        b2b = r.random() < 0.15
        mean = r.lognormvariate(7.0 if b2b else 4.2, 0.6)
        ips = [r.choice(self.offices) if b2b and r.random() < 0.6 else self._ip()]
        cards = [self._card() for _ in range(1 if r.random() < 0.85 else 2)]
        return Customer(f"C{n:05d}", mean, r.choice(COUNTRIES), cards, ips, r.uniform(0.05, 0.6))

    def _seen(self, at: datetime, kind: str, amount: float, c: Customer | None, **kw: str) -> Seen:
        self.count += 1
        local = at.astimezone(TZ)
        country = kw.pop("country", c.country if c else "US")
        card = kw.pop("card", self.rng.choice(c.cards) if c else self._card())
        travel = self.rng.random() < 0.03
        return Seen(
            key=f"synthetic:{self.count}:{kind}", at=at, kind=kind, amount=round(amount, 2),
            customer=kw.pop("customer", c.id if c else ""), card=card,
            ip=kw.pop("ip", self.rng.choice(c.ips) if c else self._ip()),
            avs=kw.pop("avs", self.rng.choice(AVS)), csc=kw.pop("csc", self.rng.choice(CSC)),
            bin_country=kw.pop("bin_country", self.rng.choice(COUNTRIES) if travel else country),
            billing_country=country, local_hour=local.hour,
        )  # fmt: skip

    def _moment(self, day: date) -> datetime:
        hour = self.rng.choices(range(24), weights=HOURLY)[0]
        local = datetime(day.year, day.month, day.day, hour, tzinfo=TZ) + timedelta(
            seconds=self.rng.randrange(3600)
        )
        return local.astimezone(UTC)

    def day(self, n: int) -> list[Labelled]:
        """Day ``n`` (0-based): legitimate traffic and refunds, then the day's fraud, in time order."""
        day = self.start + timedelta(days=n)
        season = (0.7 if day.weekday() >= 5 else 1.0) * (1.0 + 0.15 * ((n % 30) >= 25))
        out = [Labelled(s, "") for s in self._legit(day, season)]
        for pattern in PATTERNS:
            for _ in range(self._poisson(FRAUD_RATES[pattern])):
                out += [Labelled(s, pattern) for s in getattr(self, "_" + pattern)(day)]
        out.sort(key=lambda item: item.seen.at)
        return out

    def _poisson(self, mean: float) -> int:
        count, limit, p = 0, 2.718281828 ** (-mean), self.rng.random()
        while p > limit:
            count += 1
            p *= self.rng.random()
        return count

    def _legit(self, day: date, season: float) -> list[Seen]:
        r, out = self.rng, []
        for c in self.customers:
            for _ in range(self._poisson(c.rate * season)):
                at, amount = self._moment(day), max(1.0, r.gauss(c.mean, c.mean * 0.35))
                declined = r.random() < 0.04
                out.append(self._seen(at, "decline" if declined else "sale", amount, c))
                if not declined:
                    c.sales.append((at, amount, out[-1].card))
                    if r.random() < 0.04:  # a legitimate refund, days later, of all or part
                        back = at + timedelta(days=r.uniform(0.5, 9))
                        self.pending.append((back, c, amount * r.choice((1, 1, 0.5))))
        end = datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(days=1)
        due = [p for p in self.pending if p[0] < end]
        self.pending = [p for p in self.pending if p[0] >= end]
        out += [self._seen(at, "refund", amount, c) for at, c, amount in due]
        for _ in range(self._poisson(len(self.customers) * 0.02 * season)):  # newcomers
            c = self._customer(self.next_customer)
            self.next_customer += 1
            if r.random() < 0.1:
                c.mean *= 8  # a business customer opening with a large order
            self.customers.append(c)
            out.append(self._seen(self._moment(day), "sale", c.mean, c))
        return out

    def _card_testing(self, day: date) -> list[Seen]:
        r, at, ip = self.rng, self._moment(day), self._ip()
        out = []
        for _ in range(r.randint(6, 30)):
            at += timedelta(seconds=r.uniform(5, 120))
            kind = "decline" if r.random() < 0.8 else "sale"
            out.append(self._seen(at, kind, r.uniform(0.5, 6), None, ip=ip,
                                  csc=r.choice(("No Match", "", "Match"))))  # fmt: skip
        return out

    def _velocity_burst(self, day: date) -> list[Seen]:
        r, at, card = self.rng, self._moment(day), self._card()
        guest = f"G{self.count:06d}" if r.random() < 0.5 else ""
        out = []
        for _ in range(r.randint(3, 8)):
            at += timedelta(minutes=r.uniform(2, 25))
            out.append(self._seen(at, "sale", r.uniform(60, 700), None, card=card, customer=guest,
                                  avs=r.choice(AVS[80:])))  # fmt: skip
        return out

    def _victim(self) -> Customer:
        known = [c for c in self.customers if len(c.sales) >= 3]
        return self.rng.choice(known or self.customers)

    def _amount_spike(self, day: date) -> list[Seen]:
        c = self._victim()
        amount = c.mean * self.rng.uniform(6, 25)
        return [self._seen(self._moment(day), "sale", amount, c, avs=self.rng.choice(AVS[70:]))]

    def _refund_abuse(self, day: date) -> list[Seen]:
        r, c = self.rng, self._victim()
        at, out = self._moment(day), []
        for _ in range(r.randint(2, 4)):
            at += timedelta(hours=r.uniform(0.2, 8))
            out.append(self._seen(at, "refund", c.mean * r.uniform(0.8, 2.5), c))
        return out

    def _account_takeover(self, day: date) -> list[Seen]:
        r, c = self.rng, self._victim()
        card, ip, at, out = self._card(), self._ip(), self._moment(day), []
        abroad = r.choice(COUNTRIES[17:]) if r.random() < 0.6 else c.country
        for _ in range(r.randint(1, 3)):
            at += timedelta(minutes=r.uniform(5, 90))
            out.append(self._seen(at, "sale", c.mean * r.uniform(1.5, 6), c, card=card, ip=ip,
                                  bin_country=abroad))  # fmt: skip
        return out


FRAUD_RATES = {  # incidents a day, each of several transactions for some patterns
    "card_testing": 0.5,
    "velocity_burst": 1.0,
    "amount_spike": 1.5,
    "refund_abuse": 1.0,
    "account_takeover": 1.5,
}
