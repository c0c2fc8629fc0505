"""Subscriptions: the model and PayTrace-frequency schedule arithmetic (pure, no I/O)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from paybridge.model import Money


class Frequency(StrEnum):
    """PayTrace's recurring frequencies (spec §5.13), by name."""

    ANNUALLY = "annually"
    SEMI_ANNUALLY = "semi-annually"
    TRIMESTERLY = "trimesterly"
    QUARTERLY = "quarterly"
    BI_MONTHLY = "bi-monthly"
    MONTHLY = "monthly"
    BI_WEEKLY = "bi-weekly"
    FIRST_AND_FIFTEENTH = "1st-and-15th"
    WEEKLY = "weekly"
    DAILY = "daily"


PAYTRACE_CODES: dict[Frequency, str] = {
    Frequency.ANNUALLY: "1", Frequency.SEMI_ANNUALLY: "8", Frequency.TRIMESTERLY: "A",
    Frequency.QUARTERLY: "2", Frequency.BI_MONTHLY: "9", Frequency.MONTHLY: "3",
    Frequency.BI_WEEKLY: "4", Frequency.FIRST_AND_FIFTEENTH: "7", Frequency.WEEKLY: "5",
    Frequency.DAILY: "6",
}  # fmt: skip
_MONTH_STEPS = {
    Frequency.ANNUALLY: 12, Frequency.SEMI_ANNUALLY: 6, Frequency.TRIMESTERLY: 4,
    Frequency.QUARTERLY: 3, Frequency.BI_MONTHLY: 2, Frequency.MONTHLY: 1,
}  # fmt: skip
_DAY_STEPS = {Frequency.BI_WEEKLY: 14, Frequency.WEEKLY: 7, Frequency.DAILY: 1}
_ALIASES = {
    "1st & 15th": Frequency.FIRST_AND_FIFTEENTH, "1st and 15th": Frequency.FIRST_AND_FIFTEENTH,
    "1st-15th": Frequency.FIRST_AND_FIFTEENTH, "semiannually": Frequency.SEMI_ANNUALLY,
    "bimonthly": Frequency.BI_MONTHLY, "biweekly": Frequency.BI_WEEKLY,
    **{code: freq for freq, code in PAYTRACE_CODES.items()},
}  # fmt: skip


def parse_frequency(text: str) -> Frequency:
    """A frequency by name (``monthly``, ``1st & 15th``...) or PayTrace code (``3``, ``A``...)."""
    cleaned = " ".join(text.strip().split())
    lowered = cleaned.lower()
    found = _ALIASES.get(cleaned.upper()) or _ALIASES.get(lowered)
    if found is not None:
        return found
    try:
        return Frequency(lowered)
    except ValueError:
        names = ", ".join(f.value for f in Frequency)
        raise ValueError(f"unknown frequency {text!r}; use one of {names}") from None


def add_months(start: date, months: int) -> date:
    """``start`` moved by whole months, its day clamped to the month's end (Jan 31 -> Feb 28/29)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def occurrence(start: date, frequency: Frequency, n: int) -> date:
    """The date of period ``n`` (0-based), always counted from ``start`` so clamping never drifts."""
    if frequency in _MONTH_STEPS:
        return add_months(start, n * _MONTH_STEPS[frequency])
    if frequency in _DAY_STEPS:
        return start + timedelta(days=n * _DAY_STEPS[frequency])
    first = start  # 1st & 15th: the first of those days on or after the start
    if first.day not in (1, 15):
        first = first.replace(day=15) if first.day < 15 else add_months(first.replace(day=1), 1)
    months, half = divmod(n + (1 if first.day == 15 else 0), 2)
    return add_months(first.replace(day=1), months).replace(day=15 if half else 1)


class Schedule(BaseModel):
    """When a subscription bills: a frequency from ``start``, for ``count`` periods or until ``end``."""

    model_config = ConfigDict(frozen=True)

    frequency: Frequency
    start: date
    count: int | None = Field(default=None, ge=1)
    end: date | None = None

    @model_validator(mode="after")
    def _count_or_end(self) -> Schedule:
        if self.count is not None and self.end is not None:
            raise ValueError("give a count or an end date, not both")
        if self.end is not None and self.end < self.start:
            raise ValueError("the end date is before the start date")
        return self

    def period(self, n: int) -> date | None:
        """The date of period ``n``, or None when the schedule has ended before it."""
        if self.count is not None and n >= self.count:
            return None
        day = occurrence(self.start, self.frequency, n)
        return None if self.end is not None and day > self.end else day

    def due(self, first: int, through: date) -> list[tuple[int, date]]:
        """Periods from number ``first`` whose date is on or before ``through``."""
        found: list[tuple[int, date]] = []
        n = first
        while (day := self.period(n)) is not None and day <= through:
            found.append((n, day))
            n += 1
        return found

    def first_on_or_after(self, day: date, first: int = 0) -> int:
        """The number of the first period from ``first`` dated ``day`` or later."""
        n = first
        while (when := self.period(n)) is not None and when < day:
            n += 1
        return n


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class ChargeStatus(StrEnum):
    DUE = "due"
    RETRYING = "retrying"
    APPROVED = "approved"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_CHARGES = (ChargeStatus.DUE.value, ChargeStatus.RETRYING.value)
BILLABLE = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAST_DUE.value)


def reference_prefix(subscription_id: int) -> str:
    """What every charge of the subscription carries in PayTrace: ``sub:<id>`` (+ ``:<period>``)."""
    return f"sub:{subscription_id}"


def subscription_of(text: str) -> int | None:
    """The subscription a PayTrace description or invoice id names (``sub:<id>[:...]``), if any."""
    parts = text.strip().split(":")
    if len(parts) >= 2 and parts[0] == "sub" and parts[1].isdigit():
        return int(parts[1])
    return None


class NewSubscription(BaseModel):
    """What `subscriptions add` asks for; ``d365`` (company/account) defaults to the xref."""

    model_config = ConfigDict(frozen=True)

    customer_id: str = Field(min_length=1, max_length=50)
    amount: Money
    schedule: Schedule
    d365: str | None = None
    d365_reference: str | None = Field(default=None, max_length=120)
    engine: str = Field(default="paybridge", pattern="^(paybridge|paytrace)$")


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    customer_id: str
    amount: Money
    schedule: Schedule
    company: str
    account: str
    d365_reference: str | None
    engine: str
    status: SubscriptionStatus
    next_index: int
    last_reason: str | None
    hold: str
    hold_key: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def d365(self) -> str:
        return f"{self.company}/{self.account}"

    def key(self, period: date) -> str:
        """The idempotency key of one period's charge."""
        return f"{reference_prefix(self.id)}:{period.isoformat()}"


class Charge(BaseModel):
    """One period of one subscription: its charge attempts and how they ended."""

    model_config = ConfigDict(frozen=True)

    subscription_id: int
    period: date
    key: str
    amount: Money
    status: ChargeStatus
    attempts: int
    source: str
    transaction_id: str | None
    first_failed_at: datetime | None
    next_attempt_at: datetime
    sent_at: datetime | None
    last_reason: str | None
    created_at: datetime
