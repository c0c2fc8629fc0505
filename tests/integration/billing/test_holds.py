"""The D365 hold: set once through an intent even when D365's answer is lost; shared customers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paybridge.billing.settings import BillingSettings, DunningSettings
from paybridge.keys import HOLD_STEP
from paybridge.model import Money
from tests.integration.billing.conftest import World, open_world

NO_RETRIES = BillingSettings(dunning=DunningSettings(retry_days=(), hold_status="Invoice"))


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[World]:
    """Dunning without retries, holding invoices only: the first refusal puts the customer on hold."""
    async with open_world(tmp_path, NO_RETRIES) as w:
        yield w


@pytest.mark.anyio
async def test_a_lost_d365_answer_is_read_back_and_the_hold_is_not_sent_again(
    strict: World,
) -> None:
    await strict.profile("H-1")
    sub = strict.add("H-1", "1.12")
    strict.d365_app.state.sandbox.faults.script(
        "commit_then_drop", path="/data/CustomersV3*", method="PATCH"
    )
    assert await strict.billing.run() == "1 opened, 1 exhausted"
    assert strict.subs.require(sub.id).hold == "holding"
    assert await strict.on_hold() == "Invoice"  # D365 did it; we did not hear back

    assert await strict.billing.run() == "1 held"
    intent = strict.engine.store.intents.get(f"sub:{sub.id}:2026-01-31", HOLD_STEP)
    assert intent is not None and intent.status == "done" and intent.attempts == 1
    assert strict.subs.require(sub.id).hold == "held"
    assert strict.alert_kinds() == ["dunning_exhausted", "on_hold"]
    assert await strict.billing.run() == "nothing due"


@pytest.mark.anyio
async def test_the_hold_is_lifted_only_when_every_subscription_of_the_customer_is_paid(
    strict: World,
) -> None:
    await strict.profile("H-2")
    await strict.profile("H-3")
    first = strict.add("H-2", "1.12")
    second = strict.add("H-3", "1.12")  # same D365 customer US-001
    assert await strict.billing.run() == "2 opened, 2 exhausted, 2 held"
    assert await strict.on_hold() == "Invoice"

    strict.subs.change_amount(first.id, Money.of("10.00", "USD"))
    strict.advance_to(datetime(2026, 2, 28, 18, tzinfo=UTC))
    assert await strict.billing.run() == "2 opened, 1 approved, 1 exhausted, 1 released"
    assert await strict.on_hold() == "Invoice"  # the second subscription still owes
    assert strict.subs.require(first.id).hold == "none"

    strict.subs.change_amount(second.id, Money.of("10.00", "USD"))
    strict.advance_to(datetime(2026, 3, 31, 18, tzinfo=UTC))
    assert await strict.billing.run() == "2 opened, 2 approved, 1 released"
    assert await strict.on_hold() == "No"
