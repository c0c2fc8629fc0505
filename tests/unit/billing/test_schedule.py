"""Schedule arithmetic: every PayTrace frequency, month ends clamped from the start day, leap years."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paybridge.billing.dunning import BillingSettings, DunningSettings, next_attempt
from paybridge.billing.subscriptions import (
    PAYTRACE_CODES,
    Frequency,
    Schedule,
    add_months,
    occurrence,
    parse_frequency,
    subscription_of,
)

D = date.fromisoformat

EVERY_FREQUENCY = {
    Frequency.ANNUALLY: ["2026-01-31", "2027-01-31", "2028-01-31", "2029-01-31"],
    Frequency.SEMI_ANNUALLY: ["2026-01-31", "2026-07-31", "2027-01-31", "2027-07-31"],
    Frequency.TRIMESTERLY: ["2026-01-31", "2026-05-31", "2026-09-30", "2027-01-31"],
    Frequency.QUARTERLY: ["2026-01-31", "2026-04-30", "2026-07-31", "2026-10-31"],
    Frequency.BI_MONTHLY: ["2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31"],
    Frequency.MONTHLY: ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"],
    Frequency.BI_WEEKLY: ["2026-01-31", "2026-02-14", "2026-02-28", "2026-03-14"],
    Frequency.FIRST_AND_FIFTEENTH: ["2026-02-01", "2026-02-15", "2026-03-01", "2026-03-15"],
    Frequency.WEEKLY: ["2026-01-31", "2026-02-07", "2026-02-14", "2026-02-21"],
    Frequency.DAILY: ["2026-01-31", "2026-02-01", "2026-02-02", "2026-02-03"],
}


@pytest.mark.parametrize(("frequency", "expected"), EVERY_FREQUENCY.items())
def test_every_frequency_from_a_month_end(frequency: Frequency, expected: list[str]) -> None:
    assert [occurrence(D("2026-01-31"), frequency, n) for n in range(4)] == [D(e) for e in expected]


def test_every_frequency_is_covered_and_has_its_paytrace_code() -> None:
    assert set(EVERY_FREQUENCY) == set(Frequency) == set(PAYTRACE_CODES)
    assert set(PAYTRACE_CODES.values()) == {"1", "8", "A", "2", "9", "3", "4", "7", "5", "6"}


def test_monthly_clamps_to_month_ends_and_comes_back_to_the_start_day() -> None:
    start = D("2026-01-31")
    got = [occurrence(start, Frequency.MONTHLY, n) for n in range(13)]
    assert got[:4] == [D("2026-01-31"), D("2026-02-28"), D("2026-03-31"), D("2026-04-30")]
    assert got[12] == D("2027-01-31")
    assert all(d.day == min(31, calendar.monthrange(d.year, d.month)[1]) for d in got)


def test_a_leap_february_gets_the_29th() -> None:
    start = D("2028-01-31")
    assert occurrence(start, Frequency.MONTHLY, 1) == D("2028-02-29")
    assert occurrence(start, Frequency.MONTHLY, 2) == D("2028-03-31")
    assert occurrence(D("2027-12-30"), Frequency.BI_MONTHLY, 1) == D("2028-02-29")


def test_annual_from_the_29th_of_february_waits_four_years_for_it_again() -> None:
    start = D("2028-02-29")
    got = [occurrence(start, Frequency.ANNUALLY, n) for n in range(5)]
    assert got == [D("2028-02-29"), D("2029-02-28"), D("2030-02-28"), D("2031-02-28"),
                   D("2032-02-29")]  # fmt: skip


def test_daily_and_weekly_cross_a_leap_day() -> None:
    assert occurrence(D("2028-02-28"), Frequency.DAILY, 1) == D("2028-02-29")
    assert occurrence(D("2028-02-28"), Frequency.DAILY, 2) == D("2028-03-01")
    assert occurrence(D("2028-02-22"), Frequency.WEEKLY, 1) == D("2028-02-29")
    assert occurrence(D("2027-02-22"), Frequency.WEEKLY, 1) == D("2027-03-01")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-03-01", ["2026-03-01", "2026-03-15", "2026-04-01", "2026-04-15"]),
        ("2026-03-15", ["2026-03-15", "2026-04-01", "2026-04-15", "2026-05-01"]),
        ("2026-03-10", ["2026-03-15", "2026-04-01", "2026-04-15", "2026-05-01"]),
        ("2026-12-20", ["2027-01-01", "2027-01-15", "2027-02-01", "2027-02-15"]),
    ],
)
def test_first_and_fifteenth(start: str, expected: list[str]) -> None:
    got = [occurrence(D(start), Frequency.FIRST_AND_FIFTEENTH, n) for n in range(4)]
    assert got == [D(e) for e in expected]


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    st.integers(min_value=0, max_value=240),
)
def test_month_steps_never_drift_from_the_start_day(start: date, months: int) -> None:
    moved = add_months(start, months)
    last = calendar.monthrange(moved.year, moved.month)[1]
    assert moved.day == min(start.day, last)
    assert (moved.year - start.year) * 12 + moved.month - start.month == months


def test_count_and_end_bound_the_schedule() -> None:
    counted = Schedule(frequency=Frequency.MONTHLY, start=D("2026-01-31"), count=3)
    assert [counted.period(n) for n in range(4)] == [
        D("2026-01-31"), D("2026-02-28"), D("2026-03-31"), None,
    ]  # fmt: skip
    ended = Schedule(frequency=Frequency.MONTHLY, start=D("2026-01-31"), end=D("2026-03-31"))
    assert ended.period(2) == D("2026-03-31")  # the end day itself is billed
    assert ended.period(3) is None
    forever = Schedule(frequency=Frequency.DAILY, start=D("2026-01-01"))
    assert forever.period(10_000) == D("2053-05-19")


def test_due_and_first_on_or_after() -> None:
    s = Schedule(frequency=Frequency.MONTHLY, start=D("2026-01-31"), count=12)
    assert s.due(0, D("2026-01-30")) == []
    assert s.due(0, D("2026-03-30")) == [(0, D("2026-01-31")), (1, D("2026-02-28"))]
    assert s.due(2, D("2026-03-31")) == [(2, D("2026-03-31"))]
    assert s.first_on_or_after(D("2026-03-01")) == 2
    assert s.first_on_or_after(D("2027-06-01")) == 12  # past the count: nothing left
    assert s.due(12, D("2030-01-01")) == []


def test_a_schedule_takes_a_count_or_an_end_not_both() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Schedule(frequency=Frequency.MONTHLY, start=D("2026-01-31"), count=2, end=D("2026-12-31"))
    with pytest.raises(ValidationError, match="before the start"):
        Schedule(frequency=Frequency.MONTHLY, start=D("2026-01-31"), end=D("2026-01-01"))
    with pytest.raises(ValidationError):
        Schedule(frequency=Frequency.MONTHLY, start=D("2026-01-31"), count=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monthly", Frequency.MONTHLY),
        (" Monthly ", Frequency.MONTHLY),
        ("1st & 15th", Frequency.FIRST_AND_FIFTEENTH),
        ("1st and 15th", Frequency.FIRST_AND_FIFTEENTH),
        ("A", Frequency.TRIMESTERLY),
        ("a", Frequency.TRIMESTERLY),
        ("9", Frequency.BI_MONTHLY),
        ("biweekly", Frequency.BI_WEEKLY),
    ],
)
def test_frequencies_by_name_alias_or_paytrace_code(text: str, expected: Frequency) -> None:
    assert parse_frequency(text) is expected


def test_an_unknown_frequency_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"fortnightly.*monthly"):
        parse_frequency("fortnightly")


def test_the_subscription_a_reference_names() -> None:
    assert subscription_of("sub:12:2026-01-31") == 12
    assert subscription_of("sub:7") == 7
    assert subscription_of("Invoice # 12") is None
    assert subscription_of("sub:x:2026") is None


def test_dunning_retries_count_days_from_the_first_refusal() -> None:
    first = datetime(2026, 1, 31, 18, 0, tzinfo=UTC)
    policy = DunningSettings()
    assert [next_attempt(n, first, policy) for n in (1, 2, 3, 4)] == [
        datetime(2026, 2, 1, 18, 0, tzinfo=UTC),
        datetime(2026, 2, 3, 18, 0, tzinfo=UTC),
        datetime(2026, 2, 7, 18, 0, tzinfo=UTC),
        None,
    ]
    assert next_attempt(1, first, DunningSettings(retry_days=())) is None


def test_dunning_settings_are_validated_data() -> None:
    assert DunningSettings(retry_days=(2, 5), hold_status="Invoice").hold_status == "Invoice"
    with pytest.raises(ValidationError, match="increasing"):
        DunningSettings(retry_days=(3, 1))
    with pytest.raises(ValidationError, match="CustVendorBlocked"):
        DunningSettings(hold_status="Blocked")
    with pytest.raises(ValidationError, match="time zone"):
        BillingSettings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        BillingSettings.model_validate({"dunning": {"retry_days": [1], "surprise": 1}})
