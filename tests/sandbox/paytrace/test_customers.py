"""The customer vault: create (160/171/validation), update, delete, export."""

from __future__ import annotations

import pytest

from tests.sandbox.paytrace.conftest import BILLING, MASTERCARD, VISA, Harness, parse

pytestmark = pytest.mark.anyio


async def test_create_answers_160_with_the_profile_text(pt: Harness) -> None:
    body = {"customer_id": "1733439821", "credit_card": VISA, "billing_address": BILLING}
    data = await pt.ok("/v1/customer/create", body)
    assert data == {
        "success": True,
        "response_code": 160,
        "status_message": (
            "The customer profile for 1733439821/Nathan Williams was successfully created."
        ),
        "customer_id": "1733439821",
        "masked_card_number": "xxxxxxxxxxxx5439",
    }


async def test_duplicate_customer_id_is_171_with_the_masked_card(pt: Harness) -> None:
    await pt.customer("dup")
    response = await pt.post("/v1/customer/create", {"customer_id": "dup", "credit_card": VISA})
    data = parse(response)
    assert response.status_code == 400
    assert data["errors"] == {"171": ["Please provide a unique customer ID."]}
    assert data["masked_card_number"] == "xxxxxxxxxxxx5439"


async def test_create_accumulates_card_errors(pt: Harness) -> None:
    card = {"number": "1234", "expiration_month": 0, "expiration_year": "20261"}
    data = parse(await pt.post("/v1/customer/create", {"customer_id": "x", "credit_card": card}))
    assert sorted(data["errors"]) == ["35", "43", "44"]
    assert "x" not in pt.sandbox.state.customers


async def test_missing_customer_id_is_refused(pt: Harness) -> None:
    data = parse(await pt.post("/v1/customer/create", {"credit_card": VISA}))
    assert list(data["errors"]) == ["38"]


async def test_check_customer_and_its_errors(pt: Harness) -> None:
    good = {"account_number": "123456", "routing_number": "325070760"}
    await pt.ok("/v1/customer/create", {"customer_id": "ach", "check": good})
    bad = {"account_number": "12", "routing_number": "123456789"}
    data = parse(await pt.post("/v1/customer/create", {"customer_id": "ach2", "check": bad}))
    assert sorted(data["errors"]) == ["45", "46"]


async def test_update_delete_and_export(pt: Harness) -> None:
    await pt.customer("C9")
    updated = await pt.ok(
        "/v1/customer/update",
        {"customer_id": "C9", "credit_card": MASTERCARD, "email": "a@b.example"},
    )
    assert updated["response_code"] == 161
    assert updated["masked_card_number"] == "xxxxxxxxxxxx0057"
    exported = await pt.ok("/v1/customer/export", {"customer_id": "C9"})
    record = exported["customers"][0]
    assert record["credit_card"]["masked_number"] == "xxxxxxxxxxxx0057"
    assert record["email"] == "a@b.example"
    assert record["billing_address"]["name"] == "Nathan Williams"
    deleted = await pt.ok("/v1/customer/delete", {"customer_id": "C9"})
    assert deleted["response_code"] == 162
    assert (await pt.ok("/v1/customer/export", {}))["customers"] == []
    gone = parse(await pt.post("/v1/customer/delete", {"customer_id": "C9"}))
    assert list(gone["errors"]) == ["30"]
