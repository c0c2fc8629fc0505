"""Keyed and vault sales/authorizations: approvals, declines, validation codes and amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge_sandbox.paytrace import PayTraceSandboxSettings
from tests.sandbox.paytrace.conftest import AMEX, VISA, Harness, parse

pytestmark = pytest.mark.anyio
SALE_KEYS = {
    "success",
    "response_code",
    "status_message",
    "transaction_id",
    "approval_code",
    "approval_message",
    "avs_response",
    "csc_response",
    "external_transaction_id",
}


async def test_keyed_sale_is_approved_like_the_capture(pt: Harness) -> None:
    data = await pt.sale("51.88")
    assert set(data) == SALE_KEYS | {"masked_card_number"}
    assert data["response_code"] == 101
    assert data["status_message"] == "Your transaction was successfully approved."
    assert data["approval_message"] == "  NO  MATCH - Approved and completed"
    assert data["approval_code"].startswith("TAS")
    assert data["avs_response"] == "No Match"
    assert data["csc_response"] == ""
    assert data["masked_card_number"] == "xxxxxxxxxxxx5439"
    assert isinstance(data["transaction_id"], int)


async def test_transaction_ids_are_new_for_each_sale(pt: Harness) -> None:
    first, second = await pt.sale(), await pt.sale()
    assert second["transaction_id"] == first["transaction_id"] + 1


async def test_amounts_as_numbers_and_strings_are_stored_exactly(pt: Harness) -> None:
    for amount in (Decimal("10.5"), "0.10", 110, "7"):
        data = await pt.sale(amount)  # type: ignore[arg-type]
        stored = pt.sandbox.state.transactions[data["transaction_id"]].amount
        assert stored == Decimal(str(amount))


@pytest.mark.parametrize("amount", ["0.29", "1.12"])
async def test_trigger_amounts_decline_a_sale(pt: Harness, amount: str) -> None:
    response = await pt.post("/v1/transactions/sale/keyed", {"amount": amount, "credit_card": VISA})
    data = parse(response)
    assert response.status_code == 200
    assert data["success"] is False
    assert data["response_code"] == 102
    assert data["status_message"] == "Your transaction was not approved."
    assert data["approval_code"] == ""
    assert data["approval_message"] == "    DECLINE - Do not honor"
    assert isinstance(data["transaction_id"], int)


async def test_decline_status_is_a_setting() -> None:
    pt = Harness(PayTraceSandboxSettings(decline_http_status=400))
    response = await pt.post("/v1/transactions/sale/keyed", {"amount": "1.12", "credit_card": VISA})
    assert response.status_code == 400
    assert parse(response)["response_code"] == 102


async def test_authorization_of_0_29_is_an_expired_card(pt: Harness) -> None:
    data = await pt.authorize("0.29")
    assert data["response_code"] == 102
    assert data["approval_message"] == "  EXPIRED CARD - Expired card"


async def test_zero_dollar_authorization_is_approved_but_zero_sale_is_not(pt: Harness) -> None:
    assert (await pt.authorize("0.00"))["response_code"] == 101
    data = await pt.sale("0")
    assert data["errors"] == {"39": ["Please provide a valid Transaction Amount."]}


@pytest.mark.parametrize("amount", ["abc", "1.234", "-5", "1e20", True])
async def test_invalid_amounts_are_39(pt: Harness, amount: object) -> None:
    data = await pt.sale(amount)  # type: ignore[arg-type]
    assert data["response_code"] == 1
    assert "39" in data["errors"]


async def test_several_card_errors_come_back_together(pt: Harness) -> None:
    card = {"number": "54545454545454", "expiration_month": "14", "expiration_year": "1"}
    response = await pt.post("/v1/transactions/sale/keyed", {"amount": "1.00", "credit_card": card})
    data = parse(response)
    assert response.status_code == 400
    assert data["status_message"] == "One or more errors has occurred."
    assert data["errors"] == {
        "35": ["Please provide a valid Credit Card Number."],
        "43": ["Please provide a valid Expiration Month."],
        "44": ["Please provide a valid Expiration Year."],
    }


async def test_luhn_failure_is_35(pt: Harness) -> None:
    card = {**VISA, "number": "4012000098765438"}
    data = parse(await pt.post("/v1/transactions/sale/keyed", {"amount": 1, "credit_card": card}))
    assert list(data["errors"]) == ["35"]


async def test_csc_match_and_no_match(pt: Harness) -> None:
    assert (await pt.sale(csc="999"))["csc_response"] == "Match"
    assert (await pt.sale(csc="123"))["csc_response"] == "No Match"
    assert "47" in (await pt.sale(csc="12a"))["errors"]


async def test_sale_by_customer_has_no_masked_number(pt: Harness) -> None:
    await pt.customer("99")
    data = await pt.ok("/v1/transactions/sale/by_customer", {"customer_id": "99", "amount": 25.0})
    assert set(data) == SALE_KEYS
    assert data["response_code"] == 101
    txn = pt.sandbox.state.transactions[data["transaction_id"]]
    assert txn.customer_id == "99"
    assert txn.card is not None
    assert txn.card.last4 == "5439"


async def test_sale_by_unknown_customer_is_error_30(pt: Harness) -> None:
    response = await pt.post(
        "/v1/transactions/sale/by_customer", {"customer_id": "nobody", "amount": 5}
    )
    assert response.status_code == 400
    assert parse(response)["errors"] == {
        "30": ["Customer ID, nobody, was not found or is incomplete."]
    }


async def test_amex_sale_masks_fifteen_digits(pt: Harness) -> None:
    data = parse(await pt.post("/v1/transactions/sale/keyed", {"amount": 2, "credit_card": AMEX}))
    assert data["masked_card_number"] == "xxxxxxxxxxx2376"


async def test_the_sandbox_never_stores_the_full_card_number(pt: Harness) -> None:
    data = await pt.sale(csc="999")
    txn = pt.sandbox.state.transactions[data["transaction_id"]]
    assert "4012000098765439" not in repr(txn)
    assert "999" not in repr(txn.card)
