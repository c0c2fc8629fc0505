"""Capture, void, refunds, settlement (forced and nightly), batches, adjust, receipts, Level 3."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge_sandbox.paytrace import PayTraceSandboxSettings
from tests.sandbox.paytrace.conftest import AMEX, MASTERCARD, VISA, Harness, parse

pytestmark = pytest.mark.anyio
NOT_CAPTURABLE = (
    "The Transaction ID that you provided could not be captured. "
    "Only uncaptured, approved authorizations can be captured."
)
NOT_REFUNDABLE = (
    "The Transaction ID that you provided could not be refunded. Only settled transactions can "
    "be refunded.  Please try to void the transaction instead."
)
NOT_VOIDABLE = (
    "The Transaction ID that you provided could not be voided. "
    "Only transactions that are pending settlement can be voided."
)


async def errors_of(pt: Harness, path: str, body: dict[str, Any]) -> dict[str, list[str]]:
    response = await pt.post(path, body)
    assert response.status_code == 400
    data = parse(response)
    assert data["response_code"] == 1
    assert data["success"] is False
    errors: dict[str, list[str]] = data["errors"]
    return errors


async def test_authorization_shows_as_authorization_only(pt: Harness) -> None:
    auth = await pt.authorize("50.00")
    [record] = await pt.export()
    assert record["transaction_id"] == auth["transaction_id"]
    assert record["transaction_type"] == "AUTHORIZATION"
    assert (record["status_code"], record["status_message"]) == ("N", "Authorization Only")


async def test_partial_capture_keeps_the_id_and_sets_the_amount(pt: Harness) -> None:
    auth = await pt.authorize("5.00")
    tid = auth["transaction_id"]
    data = await pt.ok(
        "/v1/transactions/authorization/capture", {"transaction_id": tid, "amount": "2.00"}
    )
    assert data == {
        "success": True,
        "response_code": 112,
        "status_message": "Your transaction was successfully captured.",
        "transaction_id": tid,
        "external_transaction_id": "",
    }
    [record] = await pt.export()
    assert record["transaction_type"] == "AUTHORIZATION"
    assert record["amount"] == 2
    assert record["status_code"] == "Y"
    again = await errors_of(pt, "/v1/transactions/authorization/capture", {"transaction_id": tid})
    assert again == {"816": [NOT_CAPTURABLE]}


async def test_capture_without_amount_takes_the_authorized_amount(pt: Harness) -> None:
    auth = await pt.authorize("7.25")
    await pt.ok(
        "/v1/transactions/authorization/capture", {"transaction_id": auth["transaction_id"]}
    )
    assert pt.sandbox.state.transactions[auth["transaction_id"]].amount == Decimal("7.25")


async def test_capture_refusals(pt: Harness) -> None:
    path = "/v1/transactions/authorization/capture"
    sale = await pt.sale()
    auth = await pt.authorize("5.00")
    declined = await pt.authorize("1.12")
    blank = await pt.post(path, {"transaction_id": ""})
    assert parse(blank) == {
        "success": False,
        "response_code": 1,
        "status_message": "One or more errors has occurred.",
        "errors": {"58": ["Please provide a valid Transaction ID."]},
        "external_transaction_id": "",
    }
    missing = await errors_of(pt, path, {"transaction_id": 42})
    assert missing == {"811": ["The Transaction ID that you provided was not found."]}
    assert list(await errors_of(pt, path, {"transaction_id": sale["transaction_id"]})) == ["816"]
    declined_id = declined["transaction_id"]
    assert list(await errors_of(pt, path, {"transaction_id": declined_id})) == ["816"]
    too_much = {"transaction_id": auth["transaction_id"], "amount": "5.01"}
    assert list(await errors_of(pt, path, too_much)) == ["57"]


async def test_void_of_sale_authorization_and_refusal_after_settlement(pt: Harness) -> None:
    sale, auth = await pt.sale(), await pt.authorize()
    for tid in (sale["transaction_id"], auth["transaction_id"]):
        data = await pt.ok("/v1/transactions/void", {"transaction_id": tid})
        assert data == {
            "success": True,
            "response_code": 109,
            "status_message": "Your transaction was successfully voided.",
            "transaction_id": tid,
        }
    assert {r["status_message"] for r in await pt.export()} == {"Voided"}
    settled = await pt.sale()
    await pt.ok("/v1/transactions/settle")
    refused = await errors_of(
        pt, "/v1/transactions/void", {"transaction_id": settled["transaction_id"]}
    )
    assert refused == {"818": [NOT_VOIDABLE]}
    voided_again = {"transaction_id": sale["transaction_id"]}
    assert list(await errors_of(pt, "/v1/transactions/void", voided_again)) == ["818"]
    assert list(await errors_of(pt, "/v1/transactions/void", {"transaction_id": "abc"})) == ["58"]


async def test_refund_needs_settlement_then_gets_a_new_id(pt: Harness) -> None:
    sale = await pt.sale("10.00")
    tid = sale["transaction_id"]
    path = "/v1/transactions/refund/for_transaction"
    early = parse(await pt.post(path, {"transaction_id": tid}))
    assert early["errors"] == {"817": [NOT_REFUNDABLE]}
    assert early["external_transaction_id"] == ""
    settled = await pt.ok("/v1/transactions/settle")
    assert settled["response_code"] == 175
    refund = await pt.ok(path, {"transaction_id": tid, "amount": "3.00"})
    assert refund["response_code"] == 106
    assert refund["status_message"] == "Your transaction was successfully refunded."
    assert refund["transaction_id"] != tid
    assert refund["masked_card_number"] == "xxxxxxxxxxxx5439"
    rest = await pt.ok(path, {"transaction_id": tid})
    assert pt.sandbox.state.transactions[rest["transaction_id"]].amount == Decimal("7.00")
    assert list(await errors_of(pt, path, {"transaction_id": tid, "amount": "0.01"})) == ["56"]
    missing = parse(await pt.post(path, {"transaction_id": 5}))
    assert missing["errors"] == {"811": ["The Transaction ID that you provided was not found."]}
    records = {r["transaction_id"]: r for r in await pt.export()}
    assert records[refund["transaction_id"]]["transaction_type"] == "REFUND"
    assert records[refund["transaction_id"]]["status_code"] == "Y"


async def test_voiding_a_refund_gives_the_amount_back(pt: Harness) -> None:
    sale = await pt.sale("10.00")
    await pt.ok("/v1/transactions/settle")
    path = "/v1/transactions/refund/for_transaction"
    refund = await pt.ok(path, {"transaction_id": sale["transaction_id"]})
    await pt.ok("/v1/transactions/void", {"transaction_id": refund["transaction_id"]})
    again = await pt.ok(path, {"transaction_id": sale["transaction_id"], "amount": "10.00"})
    assert again["response_code"] == 106


async def test_keyed_and_customer_refunds(pt: Harness) -> None:
    keyed = await pt.ok("/v1/transactions/refund/keyed", {"amount": "4.00", "credit_card": VISA})
    assert keyed["response_code"] == 106
    await pt.customer("R1")
    to_customer = await pt.ok(
        "/v1/transactions/refund/to_customer", {"customer_id": "R1", "amount": 2}
    )
    assert to_customer["transaction_id"] == keyed["transaction_id"] + 1
    types = [r["transaction_type"] for r in await pt.export()]
    assert types == ["REFUND", "REFUND"]
    bad = await errors_of(pt, "/v1/transactions/refund/keyed", {"amount": "x", "credit_card": {}})
    assert sorted(bad) == ["35", "39", "43", "44"]


async def test_settled_records_carry_the_batch(pt: Harness) -> None:
    sale = await pt.sale("20.00")
    auth = await pt.authorize("9.00")
    pt.clock.advance(3600)
    batch = await pt.ok("/v1/transactions/settle")
    records = {r["transaction_id"]: r for r in await pt.export()}
    settled = records[sale["transaction_id"]]
    label = f"GB{batch['batch_number']}"
    assert (settled["status_code"], settled["status_message"]) == (label, label)
    assert settled["settled"] == "1/15/2026 11:00:00 AM"
    assert records[auth["transaction_id"]]["status_message"] == "Authorization Only"
    assert records[auth["transaction_id"]]["settled"] == ""


async def test_nightly_settlement_on_the_sandbox_clock(pt: Harness) -> None:
    await pt.sale("1.00")
    await pt.sale("2.00")
    pt.clock.advance(10 * 3600 - 1)  # 19:59:59 local
    assert {r["status_code"] for r in await pt.export()} == {"Y"}
    pt.clock.advance(1)
    records = await pt.export()
    assert {r["status_code"] for r in records} == {"GB1"}
    assert records[0]["settled"] == "1/15/2026 8:00:00 PM"
    one = await pt.ok("/v1/batches/export_one", {})
    assert one["batch"]["number"] == 1
    assert one["batch"]["transaction_count"] == 2
    assert one["batch"]["net_amount"] == Decimal("3")


async def test_a_clock_jump_replays_every_night(pt: Harness) -> None:
    await pt.sale()
    pt.clock.advance(86400)
    await pt.sale()  # settles day 1 first (batch 1), then this sale is pending
    pt.clock.advance(3 * 86400)
    await pt.token()
    batches = await pt.ok(
        "/v1/batches/export", {"start_date": "01/01/2026", "end_date": "01/31/2026"}
    )
    assert [b["number"] for b in batches["batches"]] == [1, 2]
    assert [b["settled"] for b in batches["batches"]] == [
        "1/15/2026 8:00:00 PM",
        "1/16/2026 8:00:00 PM",
    ]


async def test_nightly_settlement_can_be_switched_off() -> None:
    pt = Harness(PayTraceSandboxSettings(nightly_settlement_time=None))
    await pt.sale()
    pt.clock.advance(3 * 86400)
    assert [r["status_code"] for r in await pt.export()] == ["Y"]


async def test_batch_transaction_list_and_unknown_batch(pt: Harness) -> None:
    sale = await pt.sale()
    await pt.sale("0.29")
    refund = await pt.ok("/v1/transactions/refund/keyed", {"amount": 1, "credit_card": VISA})
    settled = await pt.ok("/v1/transactions/settle")
    listed = await pt.ok("/v1/batches/transaction_list", {"batch_number": settled["batch_number"]})
    ids = [r["transaction_id"] for r in listed["transactions"]]
    assert ids == [sale["transaction_id"], refund["transaction_id"]]
    summary = (await pt.ok("/v1/batches/export_one", {"batch_number": 1}))["batch"]
    assert (summary["sales_count"], summary["refund_count"]) == (1, 1)
    assert summary["net_amount"] == Decimal("9")
    assert list(await errors_of(pt, "/v1/batches/transaction_list", {"batch_number": 99})) == ["51"]


async def test_empty_settle_makes_no_batch(pt: Harness) -> None:
    data = await pt.ok("/v1/transactions/settle")
    assert data["transaction_count"] == 0
    assert "batch_number" not in data
    assert list(await errors_of(pt, "/v1/batches/export_one", {})) == ["51"]


async def test_email_receipt_is_149_and_recorded(pt: Harness) -> None:
    sale = await pt.sale()
    body = {"transaction_id": sale["transaction_id"], "email": "joe@example.com"}
    data = await pt.ok("/v1/transactions/email_receipt", body)
    assert data["response_code"] == 149
    assert (await pt.export())[0]["receipt_emailed_to"] == "joe@example.com"
    bad = {"transaction_id": sale["transaction_id"], "email": "nope"}
    assert list(await errors_of(pt, "/v1/transactions/email_receipt", bad)) == ["50"]


async def test_adjust_on_an_unsettled_sale_only() -> None:
    pt = Harness(PayTraceSandboxSettings(adjust_path="/v1/transactions/adjust_amount"))
    sale = await pt.sale("10.00")
    body = {"transaction_id": sale["transaction_id"], "amount": "12.50"}
    assert (await pt.ok("/v1/transactions/adjust_amount", body))["response_code"] == 180
    assert (await pt.export())[0]["amount"] == Decimal("12.5")
    await pt.ok("/v1/transactions/settle")
    assert list(await errors_of(pt, "/v1/transactions/adjust_amount", body)) == ["62"]
    assert (await pt.post("/v1/transactions/adjust", body)).status_code == 404


async def test_level_three_visa_counts_line_items(pt: Harness) -> None:
    sale = await pt.sale()
    tid = sale["transaction_id"]
    items = [{"description": "widget", "quantity": 1, "unit_cost": 5, "amount": 5}]
    data = await pt.ok("/v1/level_three/visa", {"transaction_id": tid, "line_items": items})
    assert data == {
        "success": True,
        "response_code": 170,
        "status_message": (
            "Visa/MasterCard enhanced data was successfully added to Transaction ID "
            f"{tid}. 1 line item records were created."
        ),
    }


async def test_level_three_refusals(pt: Harness) -> None:
    visa = await pt.sale()
    mc = parse(
        await pt.post("/v1/transactions/sale/keyed", {"amount": 3, "credit_card": MASTERCARD})
    )
    amex = parse(await pt.post("/v1/transactions/sale/keyed", {"amount": 3, "credit_card": AMEX}))
    auth = await pt.authorize()
    blank = await errors_of(pt, "/v1/level_three/visa", {"transaction_id": ""})
    assert blank == {"58": ["Please provide a valid Transaction ID."]}
    assert list(await errors_of(pt, "/v1/level_three/visa", {"transaction_id": 3})) == ["811"]
    for path, tid in (("/v1/level_three/visa", amex), ("/v1/level_three/visa", mc)):
        assert list(await errors_of(pt, path, {"transaction_id": tid["transaction_id"]})) == ["59"]
    auth_only = {"transaction_id": auth["transaction_id"]}
    assert list(await errors_of(pt, "/v1/level_three/visa", auth_only)) == ["63"]
    string_flag = {"transaction_id": mc["transaction_id"], "additional_tax_included": "true"}
    assert list(await errors_of(pt, "/v1/level_three/mastercard", string_flag)) == ["64"]
    good = {
        "transaction_id": mc["transaction_id"],
        "additional_tax_included": True,
        "line_items": [],
    }
    assert (await pt.ok("/v1/level_three/mastercard", good))["response_code"] == 170
    await pt.ok("/v1/transactions/settle")
    late = {"transaction_id": visa["transaction_id"], "line_items": []}
    assert list(await errors_of(pt, "/v1/level_three/visa", late)) == ["63"]


async def test_sale_and_authorization_by_transaction(pt: Harness) -> None:
    first = await pt.sale("5.00")
    body = {"transaction_id": str(first["transaction_id"]), "amount": 19.95}
    again = await pt.ok("/v1/transactions/sale/by_transaction", body)
    assert again["transaction_id"] != first["transaction_id"]
    assert "masked_card_number" not in again
    auth = await pt.ok("/v1/transactions/authorization/by_transaction", body)
    assert pt.sandbox.state.transactions[auth["transaction_id"]].status == "auth_only"
    missing = {"transaction_id": 7, "amount": 1}
    assert list(await errors_of(pt, "/v1/transactions/sale/by_transaction", missing)) == ["811"]


async def test_authorization_by_customer(pt: Harness) -> None:
    await pt.customer("A1")
    data = await pt.ok(
        "/v1/transactions/authorization/by_customer", {"customer_id": "A1", "amount": 3}
    )
    assert [r["transaction_type"] for r in await pt.export(customer_id="A1")] == ["AUTHORIZATION"]
    assert data["response_code"] == 101
