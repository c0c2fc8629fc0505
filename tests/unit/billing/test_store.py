"""The subscription store: adding (xref default), periods opened once, pause/resume/cancel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from paybridge.billing.store import SubscriptionStore
from paybridge.billing.subscriptions import (
    ChargeStatus,
    Frequency,
    NewSubscription,
    Schedule,
    SubscriptionStatus,
)
from paybridge.clock import ManualClock
from paybridge.errors import DataError
from paybridge.model import Money
from paybridge.runtime.ledger import Xref
from paybridge.store import open_engine

D = date.fromisoformat


@pytest.fixture
def store(store_url: str) -> Iterator[SubscriptionStore]:
    """On SQLite and on PostgreSQL (``store_url`` from tests/conftest.py)."""
    clock = ManualClock(datetime(2026, 1, 31, 18, 0, tzinfo=UTC))
    engine = open_engine(store_url)
    yield SubscriptionStore(engine, clock, Xref(engine, clock))
    engine.dispose()


def monthly(
    customer: str = "CUST-1", d365: str | None = "usmf/US-001", **kw: object
) -> NewSubscription:
    schedule = Schedule(frequency=Frequency.MONTHLY, start=D("2026-01-31"), count=12)
    return NewSubscription.model_validate(
        {"customer_id": customer, "amount": Money.of("19.99", "USD"), "schedule": schedule,
         "d365": d365, **kw}
    )  # fmt: skip


def test_add_keeps_decimal_money_and_links_the_customer_for_order_to_cash(
    store: SubscriptionStore,
) -> None:
    sub = store.add(monthly(d365_reference="SA-0042"))
    assert sub.amount == Money.of("19.99", "USD") and sub.status is SubscriptionStatus.ACTIVE
    assert (sub.company, sub.account, sub.d365_reference) == ("usmf", "US-001", "SA-0042")
    assert store.xref.get("paytrace_customer", "CUST-1") == "usmf/US-001"
    assert sub.key(D("2026-02-28")) == f"sub:{sub.id}:2026-02-28"


def test_the_d365_customer_defaults_to_the_xref_and_is_required(store: SubscriptionStore) -> None:
    store.xref.link("paytrace_customer", "CUST-2", "usmf/US-002")
    assert store.add(monthly("CUST-2", None)).d365 == "usmf/US-002"
    with pytest.raises(DataError) as missing:
        store.add(monthly("CUST-3", None))
    assert "d365" in missing.value.fields
    with pytest.raises(DataError) as malformed:
        store.add(monthly("CUST-3", "US-003"))
    assert malformed.value.fields == {"d365": "expected company/account"}


@pytest.mark.parametrize("amount", ["0", "-5", "19.999"])
def test_amounts_must_be_positive_in_minor_units(store: SubscriptionStore, amount: str) -> None:
    bad = monthly().model_copy(update={"amount": Money.of(amount, "USD")})
    with pytest.raises(DataError) as refused:
        store.add(bad)
    assert "amount" in refused.value.fields


def test_due_periods_are_opened_once_even_by_two_workers(store: SubscriptionStore) -> None:
    sub = store.add(monthly())
    opened = store.open_periods(sub, D("2026-03-31"))
    assert [c.period for c in opened] == [D("2026-01-31"), D("2026-02-28"), D("2026-03-31")]
    assert all(c.status is ChargeStatus.DUE and c.attempts == 0 for c in opened)
    assert store.open_periods(sub, D("2026-03-31")) == []  # a stale copy opens nothing
    fresh = store.require(sub.id)
    assert fresh.next_index == 3 and store.open_periods(fresh, D("2026-03-31")) == []
    assert [c.key for c in store.due_charges(store.clock.now())] == [c.key for c in opened]


def test_pause_resume_skips_the_paused_periods_and_cancel_closes_open_charges(
    store: SubscriptionStore,
) -> None:
    sub = store.add(monthly())
    store.open_periods(sub, D("2026-01-31"))
    paused = store.pause(sub.id)
    assert paused.status is SubscriptionStatus.PAUSED
    assert store.due_charges(store.clock.now()) == []  # paused: even open charges wait
    assert store.open_periods(store.require(sub.id), D("2026-01-31")) == []
    resumed = store.resume(sub.id, D("2026-03-15"))
    assert resumed.status is SubscriptionStatus.ACTIVE
    assert resumed.schedule.period(resumed.next_index) == D("2026-03-31")  # Feb 28 skipped
    with pytest.raises(DataError, match="cannot resume"):
        store.resume(sub.id, D("2026-03-15"))
    cancelled = store.cancel(sub.id)
    assert cancelled.status is SubscriptionStatus.CANCELLED
    assert [c.status for c in store.charges(sub.id)] == [ChargeStatus.CANCELLED]
    with pytest.raises(DataError, match="cannot pause"):
        store.pause(sub.id)


def test_a_plan_change_keeps_the_currency(store: SubscriptionStore) -> None:
    sub = store.add(monthly())
    assert (
        store.change_amount(sub.id, Money.of("24.50", "USD")).amount.amount
        == Money.of("24.50", "USD").amount
    )
    with pytest.raises(DataError):
        store.change_amount(sub.id, Money.of("24.50", "EUR"))
    with pytest.raises(DataError) as missing:
        store.require(999)
    assert missing.value.fields == {"id": "no such subscription"}
