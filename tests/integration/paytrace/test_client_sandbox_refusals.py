"""Refusals and declines of card calls, each as the right paybridge.errors error with its code."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import ValidationError

from paybridge.connectors.paytrace import (
    CaptureRequest,
    CreditCard,
    CustomerSaleRequest,
    KeyedRefundRequest,
    KeyedSaleRequest,
    TransactionRefundRequest,
    TransactionSaleRequest,
    VoidRequest,
)
from paybridge.errors import DataError, DeclinedError
from tests.integration.paytrace.test_client_sandbox_cards import (
    VISA,
    Rig,
    add_customer,
    open_rig,
    record_of,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with open_rig() as opened:
        yield opened


async def test_unknown_and_blank_transaction_ids(rig: Rig) -> None:
    for call in (
        rig.client.capture(CaptureRequest(transaction_id=999)),
        rig.client.void(VoidRequest(transaction_id=999)),
        rig.client.refund_for_transaction(TransactionRefundRequest(transaction_id=999)),
        rig.client.sale_by_transaction(TransactionSaleRequest(transaction_id=999, amount=1)),
    ):
        with pytest.raises(DataError) as unknown:
            await call
        assert unknown.value.fields == {
            "811": "The Transaction ID that you provided was not found."
        }
    assert await rig.client.export_by_id(999) is None
    # The typed request cannot even carry a blank id; forced past validation, PayTrace says 58.
    with pytest.raises(ValidationError):
        VoidRequest(transaction_id=0)
    blank = VoidRequest.model_construct(transaction_id="")  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns that "" is not an int while serialising
        with pytest.raises(DataError) as caught:
            await rig.client.void(blank)
    assert caught.value.fields == {"58": "Please provide a valid Transaction ID."}


async def test_unknown_customer_is_30(rig: Rig) -> None:
    with pytest.raises(DataError) as sale:
        await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="ghost", amount=1))
    with pytest.raises(DataError) as auth:
        await rig.client.authorize_by_customer(CustomerSaleRequest(customer_id="ghost", amount=1))
    assert set(sale.value.fields) == set(auth.value.fields) == {"30"}
    assert rig.transaction_count() == 0


async def test_card_number_month_and_year_errors_come_together(rig: Rig) -> None:
    bad = CreditCard(number="54545454545454", expiration_month="14", expiration_year="20300")
    with pytest.raises(DataError) as invalid:
        await rig.client.sale_keyed(KeyedSaleRequest(amount="1", credit_card=bad))
    assert set(invalid.value.fields) == {"35", "43", "44"}
    assert invalid.value.fields["35"] == "Please provide a valid Credit Card Number."
    assert "54545454545454" not in str(invalid.value) + (invalid.value.body or "")
    with pytest.raises(DataError) as auth:
        await rig.client.authorize_keyed(KeyedSaleRequest(amount="1", credit_card=bad))
    with pytest.raises(DataError) as refund:
        await rig.client.refund_keyed(KeyedRefundRequest(amount="1", credit_card=bad))
    assert set(auth.value.fields) == set(refund.value.fields) == {"35", "43", "44"}
    assert rig.transaction_count() == 0


@pytest.mark.parametrize(
    ("amount", "authorize", "reason"),
    [
        ("1.12", False, "The card issuer declined the payment: Do not honor."),
        ("0.29", False, "The card issuer declined the payment: Do not honor."),
        ("1.12", True, "The card issuer declined the payment: Do not honor."),
        ("0.29", True, "The card has expired: Expired card."),
    ],
)
async def test_decline_triggers(rig: Rig, amount: str, authorize: bool, reason: str) -> None:
    call = rig.client.authorize_keyed if authorize else rig.client.sale_keyed
    with pytest.raises(DeclinedError) as declined:
        await call(KeyedSaleRequest(amount=amount, credit_card=VISA, invoice_id="D-1"))
    error = declined.value
    assert (error.response_code, error.reason, error.status) == (102, reason, 200)
    assert error.transaction_id is not None
    record = await record_of(rig, int(error.transaction_id))
    assert (record.status_code, record.status_message) == ("N", "Declined")
    assert (record.amount, record.approval_code) == (Decimal(amount), "")


async def test_vault_charges_decline_too(rig: Rig) -> None:
    await add_customer(rig)
    sale = await rig.client.sale_keyed(KeyedSaleRequest(amount="10", credit_card=VISA))
    with pytest.raises(DeclinedError) as by_customer:
        await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="C1", amount="0.29"))
    with pytest.raises(DeclinedError) as by_transaction:
        await rig.client.sale_by_transaction(
            TransactionSaleRequest(transaction_id=sale.transaction_id, amount="1.12")
        )
    assert by_customer.value.reason == by_transaction.value.reason
    assert "Do not honor" in by_customer.value.reason
