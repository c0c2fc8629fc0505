"""Issue 20, item 5: a heal into a journal that people add lines to writes each payment once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from paybridge.reconcile import MatchClass
from tests.integration.reconcile.conftest import DAY, LINES, VISA, World, open_profile

pytestmark = pytest.mark.anyio


async def test_heal_after_a_line_added_by_hand_posts_the_missing_payment_once(
    world: World,
) -> None:
    d = world.engine.dynamics
    await open_profile(world, "SHOP-1", VISA, "US-001")
    await world.advance_to(datetime(2026, 3, 10, 16, 0, tzinfo=UTC))  # 09:00 local
    for name, amount in (("A", "30.00"), ("B", "35.00"), ("C", "40.00")):
        await world.sell(name, "SHOP-1", amount)
    await world.drain()
    await world.advance_to(datetime(2026, 3, 10, 19, 0, tzinfo=UTC))  # 12:00 local
    await world.engine.paytrace.settle()

    (b,) = await world.lines_of("B")
    journal = b["JournalBatchNumber"]
    key = {"dataAreaId": "usmf", "JournalBatchNumber": journal, "LineNumber": b["LineNumber"]}
    await d.delete(LINES, key)  # a clerk removes PayBridge's line of B by mistake ...
    hand = []
    for amount in ("11.00", "12.00"):  # ... and keys two checks into the same journal
        hand.append(
            await d.create(
                LINES,
                {
                    "dataAreaId": "usmf", "JournalBatchNumber": journal, "AccountType": "Cust",
                    "AccountDisplayValue": "US\\-002", "CreditAmount": Decimal(amount),
                    "PaymentReference": f"CHECK-{amount}",
                },
            )
        )  # fmt: skip

    report = await world.reconciler.run(DAY, "usmf", heal=True)
    assert {h.transaction_id for h in report.heals} == {world.tx["B"]}
    await world.drain()

    for name in ("A", "B", "C"):
        assert len(await world.lines_of(name)) == 1, name
    (healed,) = await world.lines_of("B")
    assert healed["JournalBatchNumber"] == journal
    taken = {Decimal(str(r["LineNumber"])) for r in hand}
    assert Decimal(str(healed["LineNumber"])) not in taken
    rows = await d.query(LINES)
    assert sorted(
        Decimal(str(r["CreditAmount"])) for r in rows if r["PaymentReference"].startswith("CHECK-")
    ) == [Decimal("11.00"), Decimal("12.00")]
    queue = world.engine.store.queue
    assert queue.stats().dead == 0 and queue.dead_letters() == []

    again = await world.reconciler.run(DAY, "usmf")
    missing = [e for e in again.exceptions if e.match_class == MatchClass.MISSING_IN_D365]
    assert missing == []
