"""Issue 17 item 6: a card order of company X is authorized, captured (and its capture posted,
marking the invoice) through X's merchant account, never the main one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from paybridge.charging.settings import Level3Settings
from paybridge.keys import CAPTURE_INVOICE_XREF, CUSTOMER_XREF, ORDER_AUTH_XREF
from paybridge.orders.settings import OrdersSettings
from tests.integration.multico.world import open_profile, open_two_accounts

pytestmark = pytest.mark.anyio
ORDERS = OrdersSettings(
    enabled=True, authorization_field="CustomerRequisitionNumber",
    hold_reason_field="CustomersOrderReference",
)  # fmt: skip


async def test_a_usrt_order_is_authorized_and_captured_through_usrts_account(
    tmp_path: Path,
) -> None:
    level3 = Level3Settings(enabled=True)  # Level 3 after the capture: to the same account
    async with open_two_accounts(tmp_path, orders=ORDERS, level3=level3) as world:
        engine, d365 = world.engine, world.engine.dynamics
        await open_profile(world.main, "SHOP-9")  # the main merchant's SHOP-9: not this customer
        await open_profile(world.retail, "SHOP-9")
        engine.store.xref.link(CUSTOMER_XREF, "retail/SHOP-9", "usrt/USRT-001")
        header = await d365.create("SalesOrderHeadersV2", {
            "dataAreaId": "usrt", "OrderingCustomerAccountNumber": "USRT-001",
            "CustomerPaymentMethodName": "CREDITCARD",
        })  # fmt: skip
        order = str(header["SalesOrderNumber"])
        await d365.create("SalesOrderLinesV3", {
            "dataAreaId": "usrt", "SalesOrderNumber": order, "ItemNumber": "D0001",
            "OrderedSalesQuantity": 2, "SalesPrice": Decimal("25"),
        })  # fmt: skip

        async def step() -> None:
            for _ in range(3):
                await engine.orders.watch.run()
                while await engine.worker.run_once():
                    pass

        await step()
        held = world.sold(world.retail_app, order)
        assert [(t.transaction_type, t.amount) for t in held] == [("AUTHORIZATION", Decimal("50"))]
        assert world.sold(world.main_app, order) == []
        auth = str(held[0].transaction_id)
        assert engine.store.xref.get(ORDER_AUTH_XREF, f"retail/{auth}") == f"usrt/{order}"
        assert engine.store.xref.get(ORDER_AUTH_XREF, auth) is None  # the main account's number

        invoiced = await d365.call_service(
            "PayBridgeSandbox", "SalesOrders", "invoice",
            {"dataAreaId": "usrt", "SalesOrderNumber": order},
        )  # fmt: skip
        invoice = str(invoiced["InvoiceNumber"])
        await step()
        assert engine.store.xref.get(CAPTURE_INVOICE_XREF, f"retail/{auth}") == f"usrt/{invoice}"
        await world.drain()
        await world.drain()
        usrt, usmf = await world.lines("usrt"), await world.lines("usmf")
        assert usmf == {}
        line = usrt[f"PT-{auth}-capture"]
        assert (line["MarkedInvoice"], line["CreditAmount"]) == (invoice, Decimal("50"))
        assert list(usrt) == [f"PT-{auth}-capture"]  # an authorization moves no money
        captured = world.retail_app.state.sandbox.state.transactions[int(auth)]
        assert captured.level3_line_items == 1  # the invoice's line, sent to usrt's account
        same_id = world.main_app.state.sandbox.state.transactions.get(int(auth))
        assert same_id is None or same_id.level3_line_items == 0
