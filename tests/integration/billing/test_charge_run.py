"""Charge runs against both sandboxes: approvals reach D365, declines are dunned to a hold and back."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from paybridge.billing.subscriptions import ChargeStatus, SubscriptionStatus
from paybridge.model import Money
from tests.integration.billing.conftest import World


@pytest.mark.anyio
async def test_a_due_period_is_charged_once_and_posted_through_order_to_cash(world: World) -> None:
    await world.profile("SUBS-1")
    sub = world.add("SUBS-1", "19.99", count=12)
    assert await world.billing.run() == "1 opened, 1 approved"
    assert await world.billing.run() == "nothing due"  # the same day again: nothing more

    (txn,) = world.approved(f"sub:{sub.id}:2026-01-31")
    assert txn.amount == Decimal("19.99") and txn.customer_id == "SUBS-1"
    (charge,) = world.subs.charges(sub.id)
    assert charge.status is ChargeStatus.APPROVED
    assert charge.transaction_id == str(txn.transaction_id)
    (payment,) = world.messages("payment")
    assert payment["key"] == f"paytrace:{txn.transaction_id}:sale"
    body = json.loads(payment["payload"])
    assert body["amount"] == {"amount": "19.99", "currency": "USD"}
    assert body["discretionary_data"]["subscription_id"] == str(sub.id)

    await world.drain()
    lines = await world.engine.dynamics.query("CustomerPaymentJournalLines")
    (line,) = [r for r in lines if r["PaymentReference"] == str(txn.transaction_id)]
    assert Decimal(str(line["CreditAmount"])) == Decimal("19.99")
    assert line["AccountDisplayValue"].replace("\\", "") == "US-001"

    # The poller sees the same sale later: a counted duplicate, never a second line.
    await world.engine.ingest.poll_once()
    await world.drain()
    lines = await world.engine.dynamics.query("CustomerPaymentJournalLines")
    assert [r["PaymentReference"] for r in lines].count(str(txn.transaction_id)) == 1
    assert world.engine.store.queue.stats().duplicates >= 1


@pytest.mark.anyio
async def test_month_ends_are_billed_on_their_clamped_days(world: World) -> None:
    await world.profile("SUBS-2")
    sub = world.add("SUBS-2", "5.00", count=3)
    await world.billing.run()
    world.advance(days=27)  # 27 February: not yet due
    assert await world.billing.run() == "nothing due"
    world.advance(days=1)  # 28 February
    assert await world.billing.run() == "1 opened, 1 approved"
    world.advance_to(datetime(2026, 3, 31, 18, tzinfo=UTC))
    assert await world.billing.run() == "1 opened, 1 approved, 1 completed"
    periods = [c.period.isoformat() for c in world.subs.charges(sub.id)]
    assert periods == ["2026-01-31", "2026-02-28", "2026-03-31"]
    assert world.subs.require(sub.id).status is SubscriptionStatus.COMPLETED
    world.advance(days=31)
    assert await world.billing.run() == "nothing due"


@pytest.mark.anyio
async def test_dunning_retries_on_days_1_3_7_then_holds_and_a_later_success_clears_it(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.profile("SUBS-3")
    sub = world.add("SUBS-3", "1.12")  # the sandbox declines 1.12 every time
    key = f"sub:{sub.id}:2026-01-31"
    assert await world.billing.run() == "1 opened, 1 refused"
    charge = world.subs.charge(key)
    assert charge is not None and charge.status is ChargeStatus.RETRYING
    assert charge.next_attempt_at == datetime(2026, 2, 1, 18, tzinfo=UTC)
    reason = world.subs.require(sub.id).last_reason
    assert reason and "declined" in reason.lower() and "{" not in reason

    world.advance(hours=23)
    assert await world.billing.run() == "nothing due"  # the retry waits for day 1
    for day, expected in ((1, "1 refused"), (3, "1 refused")):
        world.advance_to(datetime(2026, 2, day, 18, tzinfo=UTC))
        assert await world.billing.run() == expected
    assert await world.on_hold() == "No"

    world.advance_to(datetime(2026, 2, 7, 18, tzinfo=UTC))
    assert await world.billing.run() == "1 exhausted, 1 held"
    assert len(world.sandbox_charges(key)) == 4 and world.approved(key) == []
    failed = world.subs.charge(key)
    assert failed is not None and failed.status is ChargeStatus.FAILED and failed.attempts == 4
    held = world.subs.require(sub.id)
    assert held.status is SubscriptionStatus.PAST_DUE and held.hold == "held"
    assert await world.on_hold() == "All"
    assert world.alert_kinds() == ["declined", "declined", "declined", "dunning_exhausted",
                                   "on_hold"]  # fmt: skip

    caplog.set_level(logging.WARNING, logger="paybridge.billing.dunning")
    await world.drain()
    assert "billing alert on_hold" in caplog.text and "usmf/US-001" in caplog.text
    assert all(m["status"] == "done" for m in world.messages("billing.alert"))

    world.subs.change_amount(sub.id, Money.of("19.99", "USD"))  # the customer moves plans
    world.advance_to(datetime(2026, 2, 28, 18, tzinfo=UTC))
    assert await world.billing.run() == "1 opened, 1 approved, 1 released"
    recovered = world.subs.require(sub.id)
    assert recovered.status is SubscriptionStatus.ACTIVE and recovered.hold == "none"
    assert recovered.last_reason is None
    assert await world.on_hold() == "No"
    assert world.alert_kinds()[-2:] == ["recovered", "released"]
    assert await world.billing.run() == "nothing due"  # the hold is set and lifted once
    holds = world.engine.store.ledger.entries(f"sub:{sub.id}:")
    assert [e.status for e in holds if e.system == "d365"] == ["on_hold", "released"]


@pytest.mark.anyio
async def test_a_successful_retry_clears_the_dunning_state(world: World) -> None:
    sub = world.add("LATE-PROFILE", "9.00")  # no PayTrace profile yet: refused
    assert await world.billing.run() == "1 opened, 1 refused"
    reason = world.subs.require(sub.id).last_reason
    assert reason is not None and "LATE-PROFILE" in reason
    await world.profile("LATE-PROFILE")
    world.advance(days=1)
    assert await world.billing.run() == "1 approved"
    charge = world.subs.charges(sub.id)[0]
    assert charge.status is ChargeStatus.APPROVED and charge.attempts == 1
    after = world.subs.require(sub.id)
    assert after.last_reason is None and after.status is SubscriptionStatus.ACTIVE
    assert after.hold == "none" and await world.on_hold() == "No"


@pytest.mark.anyio
async def test_pause_and_cancel_stop_charging(world: World) -> None:
    await world.profile("SUBS-4")
    sub = world.add("SUBS-4", "7.00")
    await world.billing.run()
    world.subs.pause(sub.id)
    world.advance_to(datetime(2026, 3, 2, 18, tzinfo=UTC))  # 28 February passes while paused
    assert await world.billing.run() == "nothing due"
    world.subs.resume(sub.id, world.clock.now().date())
    assert await world.billing.run() == "nothing due"  # February was skipped, not back-billed
    world.advance_to(datetime(2026, 3, 31, 18, tzinfo=UTC))
    assert await world.billing.run() == "1 opened, 1 approved"
    world.subs.cancel(sub.id)
    world.advance_to(datetime(2026, 4, 30, 18, tzinfo=UTC))
    assert await world.billing.run() == "nothing due"
    assert [c.period.isoformat() for c in world.subs.charges(sub.id)] == [
        "2026-01-31", "2026-03-31",
    ]  # fmt: skip


@pytest.mark.anyio
async def test_cancel_stops_the_retries_of_a_declined_period(world: World) -> None:
    await world.profile("SUBS-5")
    sub = world.add("SUBS-5", "1.12")
    await world.billing.run()
    world.subs.cancel(sub.id)
    world.advance(days=8)
    assert await world.billing.run() == "nothing due"
    assert len(world.sandbox_charges(f"sub:{sub.id}:2026-01-31")) == 1
    assert world.subs.charges(sub.id)[0].status is ChargeStatus.CANCELLED
