"""Orders as a product: `paybridge serve` authorizes a D365 card order, captures its invoice,
posts the capture against that invoice, and refunds a credit note once an operator approves.

Both sandboxes and PayBridge are processes; the test acts as the D365 person (orders, the
emulator-only invoicing service) and the operator (PayBridge's API), and judges only what
PayTrace, D365 and PayBridge's API show.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.product import World, open_world, wait_for

pytestmark = pytest.mark.slow
ORDERS = "PayBridgeSandbox/SalesOrders"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def money(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


def of_order(world: World, order: str, kind: str) -> list[dict[str, Any]]:
    return [
        t for t in world.paytrace.transactions()
        if t.get("invoice_id") == order and kind in str(t.get("transaction_type", "")).upper()
    ]  # fmt: skip


def test_order_authorized_captured_posted_and_refunded_after_approval(world: World) -> None:
    world.paytrace.create_customer("ORD-E2E-1")
    world.write_settings({"orders": {
        "enabled": True, "interval_seconds": 0.5, "authorization_field": "CustomerRequisitionNumber",
        "hold_reason_field": "CustomersOrderReference", "refund_approval_above": "10",
        "unsettled_retry_seconds": 1,
    }})  # fmt: skip
    world.cli("xref", "link", "ORD-E2E-1", "usmf/US-002")
    operator = world.api_key("operator")
    engine = world.start_engine("serve")
    d365 = world.dynamics
    header = d365.create("SalesOrderHeadersV2", {
        "dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-002",
        "CustomerPaymentMethodName": "CREDITCARD",
    })  # fmt: skip
    order = str(header["SalesOrderNumber"])
    line = d365.create("SalesOrderLinesV3", {
        "dataAreaId": "usmf", "SalesOrderNumber": order, "ItemNumber": "D0001",
        "OrderedSalesQuantity": 2, "SalesPrice": 30,
    })  # fmt: skip

    (auth,) = wait_for(
        f"PayTrace holds an authorization for order {order}",
        lambda: of_order(world, order, "AUTH"), lambda found: len(found) == 1,
        timeout=30, watch=[engine],
    )  # fmt: skip
    assert money(auth["amount"]) == Decimal("60.00")
    (recorded,) = d365.query("SalesOrderHeadersV2", f"SalesOrderNumber eq '{order}'")
    assert recorded["CustomerRequisitionNumber"] == str(auth["transaction_id"])

    invoice = d365.service(f"{ORDERS}/invoice", {"dataAreaId": "usmf", "SalesOrderNumber": order})
    txid = str(auth["transaction_id"])
    (posted,) = wait_for(
        f"D365 holds the capture of {txid} against invoice {invoice['InvoiceNumber']}",
        lambda: d365.query("CustomerPaymentJournalLines", f"PaymentId eq 'PT-{txid}-capture'"),
        lambda rows: len(rows) >= 1, timeout=40, watch=[engine],
    )  # fmt: skip
    assert posted["MarkedInvoice"] == invoice["InvoiceNumber"]
    assert money(posted["CreditAmount"]) == Decimal("60")

    world.paytrace.call("/v1/transactions/settle", {})
    note = d365.service(f"{ORDERS}/creditNote", {
        "dataAreaId": "usmf", "SalesOrderNumber": order,
        "Lines": [{"InventoryLotId": line["InventoryLotId"], "Quantity": 1}],
    })  # fmt: skip
    with world.api(operator) as api:
        (waiting,) = wait_for(
            "the credit note's refund waits for approval",
            lambda: api.get("/v1/refunds", params={"status": "awaiting_approval"}).json()["refunds"],
            lambda rows: len(rows) == 1, timeout=30, watch=[engine],
        )  # fmt: skip
        assert waiting["credit_note"] == note["InvoiceNumber"]
        assert of_order(world, order, "REFUND") == []  # nothing before the approval
        approved = api.post(f"/v1/refunds/{waiting['request_id']}/approve")
        assert approved.status_code == 200, approved.text
    (refund,) = wait_for(
        "PayTrace holds the refund of the credit note",
        lambda: [t for t in world.paytrace.transactions()
                 if "REFUND" in str(t.get("transaction_type", "")).upper()],
        lambda found: len(found) == 1, timeout=30, watch=[engine],
    )  # fmt: skip
    assert money(refund["amount"]) == Decimal("30.00")
    refund_id = str(refund["transaction_id"])
    (debit,) = wait_for(
        "D365 holds the refund's debit line",
        lambda: d365.query("CustomerPaymentJournalLines", f"PaymentId eq 'PT-{refund_id}-refund'"),
        lambda rows: len(rows) >= 1, timeout=40, watch=[engine],
    )  # fmt: skip
    assert money(debit["DebitAmount"]) == Decimal("30")
    assert len(d365.query("CustomerPaymentJournalLines", f"PaymentId eq 'PT-{txid}-capture'")) == 1


def test_a_refund_is_approved_from_the_cli_and_its_requester_cannot_approve_it(
    world: World,
) -> None:
    world.paytrace.create_customer("ORD-E2E-2")
    world.write_settings({"orders": {
        "enabled": True, "interval_seconds": 0.5, "refund_approval_above": "10",
        "unsettled_retry_seconds": 1,
    }})  # fmt: skip
    world.cli("xref", "link", "ORD-E2E-2", "usmf/US-003")
    maker = world.api_key("operator")
    engine = world.start_engine("serve")
    d365 = world.dynamics
    order = str(d365.create("SalesOrderHeadersV2", {
        "dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-003",
        "CustomerPaymentMethodName": "CREDITCARD"})["SalesOrderNumber"])  # fmt: skip
    d365.create("SalesOrderLinesV3", {"dataAreaId": "usmf", "SalesOrderNumber": order,
                                      "ItemNumber": "D0001", "OrderedSalesQuantity": 1,
                                      "SalesPrice": 80})  # fmt: skip
    wait_for(f"order {order} authorized", lambda: of_order(world, order, "AUTH"),
             lambda found: len(found) == 1, timeout=30, watch=[engine])  # fmt: skip
    d365.service(f"{ORDERS}/invoice", {"dataAreaId": "usmf", "SalesOrderNumber": order})
    wait_for(f"order {order} captured",
             lambda: [t for t in of_order(world, order, "AUTH") if t.get("status_code") == "Y"],
             lambda found: len(found) == 1, timeout=30, watch=[engine])  # fmt: skip
    world.paytrace.call("/v1/transactions/settle", {})
    with world.api(maker) as api:
        asked = api.post(
            "/v1/refunds",
            json={
                "company": "usmf",
                "order": order,
                "amount": "25",
                "currency": "USD",
                "idempotency_key": "goodwill-7",
            },
        )
        assert asked.status_code == 202, asked.text
        rid = asked.json()["request_id"]
        wait_for("the operator's refund waits for approval",
                 lambda: api.get(f"/v1/refunds/{rid}").json().get("status"),
                 lambda status: status == "awaiting_approval", timeout=30, watch=[engine])  # fmt: skip
        own = api.post(f"/v1/refunds/{rid}/approve")
        assert own.status_code == 409 and "approver" in own.json()["error"]["fields"]
    listed = world.cli("refunds", "list", "--status", "awaiting_approval").stdout
    assert rid in listed
    approved = world.cli("refunds", "approve", rid)
    assert "approved by cli:" in approved.stdout
    again = world.cli("refunds", "approve", rid, check=False)
    assert again.returncode == 2 and "not awaiting approval" in again.stderr
    (refund,) = wait_for(
        "PayTrace holds the approved refund",
        lambda: [t for t in world.paytrace.transactions()
                 if "REFUND" in str(t.get("transaction_type", "")).upper()],
        lambda found: len(found) == 1, timeout=30, watch=[engine],
    )  # fmt: skip
    assert money(refund["amount"]) == Decimal("25.00")
    audit = world.cli("audit", "list", "--action", "refund.approve", "--json").stdout
    assert "cli:" in audit and rid[:20] in audit
