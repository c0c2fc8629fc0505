"""Customers created when missing, voids before and after posting, refunds: each fact once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.connectors.paytrace import TransactionRefundRequest, VoidRequest
from paybridge.o2c.cutoff import post_journal
from paybridge.o2c.settings import OrderToCashSettings
from tests.integration.o2c.conftest import WorldFactory

pytestmark = pytest.mark.anyio


async def test_a_missing_customer_is_created_from_the_paytrace_profile_once(
    make_world: WorldFactory,
) -> None:
    world = await make_world(OrderToCashSettings(missing_customer="create"))
    await world.profile("WEB-77", None, name="Ada B. Lovelace")
    first = await world.sell("WEB-77", "20.00")
    await world.drain()
    second = await world.sell("WEB-77", "30.00")
    world.clock.advance(30)
    await world.drain()

    customer = await world.engine.dynamics.get(
        "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "WEB-77"}
    )
    assert customer is not None
    assert (customer["PersonFirstName"], customer["PersonMiddleName"], customer["PersonLastName"]) == (
        "Ada", "B.", "Lovelace",
    )  # fmt: skip
    assert (
        customer["AddressStreet"] == "1 Main St\nSuite 5" and customer["AddressZipCode"] == "98101"
    )
    assert customer["MerchantID"] == "WEB-77"  # the PayTrace customer id
    assert customer["SalesMemo"] == "PayTrace card xxxxxxxxxxxx5439"  # masked only
    for tx in (first, second):
        (line,) = await world.lines(f"PT-{tx}-sale")
        assert line["AccountDisplayValue"].replace("\\", "") == "WEB-77"
    assert world.engine.store.xref.get("paytrace_customer", "WEB-77") == "usmf/WEB-77"
    created = world.engine.store.intents.get("customer:WEB-77", "d365.customer_create")
    assert created is not None and created.status == "done" and created.attempts == 1


async def test_void_before_posting_removes_the_line_and_after_posting_reverses_it(
    make_world: WorldFactory,
) -> None:
    world = await make_world(OrderToCashSettings(void_unposted="delete"))
    await world.profile("SHOP-5", "US-005")
    early = await world.sell("SHOP-5", "44.00")
    await world.drain()
    assert len(await world.lines(f"PT-{early}-sale")) == 1
    await world.engine.paytrace.void(VoidRequest(transaction_id=int(early)))
    world.clock.advance(30)
    await world.drain()
    await world.drain()
    assert await world.lines(f"PT-{early}-sale") == []
    assert await world.lines(f"PT-{early}-void") == []
    (removed,) = [e for e in world.engine.store.ledger.entries(f"paytrace:{early}:void")]
    assert removed.status == "removed" and removed.step == "d365.line_delete"

    late = await world.sell("SHOP-5", "12.50")
    world.clock.advance(30)
    await world.drain()
    (sale,) = await world.lines(f"PT-{late}-sale")
    how = await post_journal(
        world.engine.dynamics, world.engine.store.intents, "PayBridgeSandbox/Journals/post",
        "usmf", sale["JournalBatchNumber"],
    )  # fmt: skip
    assert how == "now"
    await world.engine.paytrace.void(VoidRequest(transaction_id=int(late)))
    world.clock.advance(30)
    await world.drain()
    # D365 refused the line into the journal posted behind PayBridge's back: it moves on retry.
    world.clock.advance(60)
    await world.drain()
    (reversal,) = await world.lines(f"PT-{late}-void")
    assert Decimal(str(reversal["DebitAmount"])) == Decimal("12.50")
    assert reversal["JournalBatchNumber"] != sale["JournalBatchNumber"]  # posted one is closed


async def test_refund_after_settlement_is_one_debit_line(make_world: WorldFactory) -> None:
    world = await make_world()
    await world.profile("SHOP-6", "US-006")
    sale = await world.sell("SHOP-6", "80.00")
    await world.drain()
    await world.engine.paytrace.settle()
    refund = await world.engine.paytrace.refund_for_transaction(
        TransactionRefundRequest(transaction_id=int(sale), amount=Decimal("30.00"))
    )
    world.clock.advance(60)
    await world.drain()
    await world.drain()
    (line,) = await world.lines(f"PT-{refund.transaction_id}-refund")
    assert Decimal(str(line["DebitAmount"])) == Decimal("30.00")
    assert line["AccountDisplayValue"].replace("\\", "") == "US-006"
    assert len(await world.lines(f"PT-{sale}-sale")) == 1
