"""Issue 17 item 6: a subscription of company X is billed through X's merchant account, and its
payment is posted in X once (the billing fact and the poller's share the qualified key)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from paybridge.billing.subscriptions import Frequency, NewSubscription, Schedule
from paybridge.model import Money
from tests.integration.multico.world import START, open_profile, open_two_accounts

pytestmark = pytest.mark.anyio


async def test_a_usrt_subscription_is_billed_through_usrts_account(tmp_path: Path) -> None:
    async with open_two_accounts(tmp_path) as world:
        engine = world.engine
        await open_profile(world.main, "SUBS-9")  # the main merchant's own SUBS-9
        await open_profile(world.retail, "SUBS-9")
        sub = engine.subscriptions.add(
            NewSubscription(
                customer_id="retail/SUBS-9", amount=Money.of("19.99", "USD"),
                schedule=Schedule(frequency=Frequency.MONTHLY, start=START.date(), count=1),
                d365="usrt/USRT-002",
            )
        )  # fmt: skip
        assert await engine.billing.run() == "1 opened, 1 approved, 1 completed"
        reference = f"sub:{sub.id}:{START.date().isoformat()}"
        on_retail = [
            t for t in world.retail_app.state.sandbox.state.transactions.values()
            if t.description == reference
        ]  # fmt: skip
        assert [(t.customer_id, t.amount) for t in on_retail] == [("SUBS-9", Decimal("19.99"))]
        assert not [
            t for t in world.main_app.state.sandbox.state.transactions.values()
            if t.description == reference
        ]  # fmt: skip
        await world.drain()
        await world.drain()
        usrt = await world.lines("usrt")
        line = usrt[f"PT-{on_retail[0].transaction_id}-sale"]
        assert line["CreditAmount"] == Decimal("19.99")
        assert line["AccountDisplayValue"].replace("\\", "") == "USRT-002"
        assert await world.lines("usmf") == {}
