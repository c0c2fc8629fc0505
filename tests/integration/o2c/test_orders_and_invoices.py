"""A storefront order paid by card: invoice marking, prepayments, order status, declines, posting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.connectors.dynamics import F, Query
from paybridge.connectors.paytrace import CaptureRequest
from paybridge.o2c.settings import OrderToCashSettings
from paybridge.runtime.scheduler import PeriodicJob
from tests.integration.o2c.conftest import WorldFactory

pytestmark = pytest.mark.anyio
STATUS = OrderToCashSettings(
    order_status_field="CustomersOrderReference",  # stand-ins for extension fields
    order_reason_field="CustomerRequisitionNumber",
    post_journals=True,
)


async def test_sale_naming_an_open_invoice_is_marked_posted_and_settles_it(
    make_world: WorldFactory,
) -> None:
    world = await make_world(STATUS.model_copy(update={"post_journals": True, "post_at": "18:00"}))
    await world.profile("SHOP-1", "US-001")
    tx = await world.sell("SHOP-1", "400.00", "CIV-000101")
    await world.drain()
    await world.drain()

    (line,) = await world.lines(f"PT-{tx}-sale")
    assert line["MarkedInvoice"] == "CIV-000101" and line["SettleVoucher"] == "SelectedTransact"
    assert line["IsPrepayment"] == "No"
    order = await world.order("000601")
    assert order["CustomersOrderReference"] == "Paid"
    assert order["IsSalesProcessingStopped"] == "No"

    # The cut-off job the engine scheduled (o2c.post_journals, 18:00 in dynamics.timezone).
    (job,) = [j for j in world.engine.scheduler.jobs if j.name == "d365.post_journals"]
    assert isinstance(job, PeriodicJob)
    assert await job.run() == "nothing to post"  # before the cut-off
    world.clock.advance(9 * 3600)  # 19:00 local
    assert (await job.run()).startswith("posted 1 journal")
    assert await job.run() == "nothing to post"  # once
    (invoice,) = await world.engine.dynamics.query(
        "CustTransactions", Query(filter=F("Invoice") == "CIV-000101")
    )
    assert Decimal(str(invoice["SettleAmountCur"])) == Decimal("400.00")

    # A payment after the cut-off goes to the day's next journal, not the posted one.
    late = await world.sell("SHOP-1", "50.00", "CIV-000101")
    await world.drain()
    (late_line,) = await world.lines(f"PT-{late}-sale")
    assert late_line["JournalBatchNumber"] != line["JournalBatchNumber"]
    header = await world.engine.dynamics.get(
        "CustomerPaymentJournalHeaders",
        {"dataAreaId": "usmf", "JournalBatchNumber": late_line["JournalBatchNumber"]},
    )
    assert header is not None and header["IsPosted"] == "No"


async def test_sale_naming_a_sales_order_is_a_prepayment_and_releases_the_order(
    make_world: WorldFactory,
) -> None:
    world = await make_world(STATUS)
    await world.profile("SHOP-2", "US-002")
    order = await world.new_order("US-002")
    tx = await world.sell("SHOP-2", "75.25", order)
    await world.drain()
    (line,) = await world.lines(f"PT-{tx}-sale")
    assert line["IsPrepayment"] == "Yes" and not line["MarkedInvoice"]
    assert Decimal(str(line["CreditAmount"])) == Decimal("75.25")
    row = await world.order(order)
    assert row["CustomersOrderReference"] == "Paid" and row["IsSalesProcessingStopped"] == "No"
    steps = [e.step for e in world.engine.store.ledger.entries(f"paytrace:{tx}:sale")]
    assert steps == ["d365.payment_line", "d365.order_status"]


async def test_authorization_sets_status_only_and_its_capture_posts_the_money(
    make_world: WorldFactory,
) -> None:
    world = await make_world(STATUS)
    await world.profile("SHOP-3", "US-003")
    order = await world.new_order("US-003")
    auth = await world.sell("SHOP-3", "120.00", order, auth=True)
    await world.drain()
    assert await world.lines(f"PT-{auth}-authorization") == []
    assert (await world.order(order))["CustomersOrderReference"] == "Authorized"

    await world.engine.paytrace.capture(
        CaptureRequest(transaction_id=int(auth), amount=Decimal("100.00"))
    )
    world.clock.advance(60)
    await world.drain()
    (line,) = await world.lines(f"PT-{auth}-capture")
    assert Decimal(str(line["CreditAmount"])) == Decimal("100.00")
    assert line["IsPrepayment"] == "Yes"
    assert (await world.order(order))["CustomersOrderReference"] == "Paid"


async def test_a_decline_holds_the_order_with_a_readable_reason(make_world: WorldFactory) -> None:
    world = await make_world(STATUS)
    await world.profile("SHOP-4", "US-004")
    order = await world.new_order("US-004")
    tx = await world.sell("SHOP-4", "0.29", order)
    await world.drain()
    row = await world.order(order)
    assert row["IsSalesProcessingStopped"] == "Yes"
    assert row["CustomersOrderReference"] == "Declined"
    reason = row["CustomerRequisitionNumber"]
    assert "declined" in reason.lower() or "expired" in reason.lower()
    notes = world.engine.store.ledger.entries(f"paytrace:{tx}:decline")
    assert notes[0].status == "declined" and reason.rstrip(".") in notes[0].detail["why"]
    assert await world.lines(f"PT-{tx}-decline") == []
