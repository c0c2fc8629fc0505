"""PayTraceClient and ChangePoller against the PayTrace sandbox, in-process over ASGI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from paybridge.connectors.paytrace import (
    Address,
    CaptureRequest,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
    KeyedSaleRequest,
    PayTraceClient,
    TransactionRefundRequest,
    VoidRequest,
)
from paybridge.connectors.paytrace.poller import ChangePoller, PollCursor
from paybridge.errors import DataError, DeclinedError, InDoubtError, RetryableError
from tests.integration.paytrace import test_client_sandbox_cards as cards
from tests.integration.paytrace.test_client_sandbox_cards import Rig

pytestmark = pytest.mark.anyio
START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
CARD = CreditCard(number="4012000098765439", expiration_month="12", expiration_year="2030")
ADDRESS = Address(name="Nathan Williams", street_address="1234 Main St.", zip="90210")


rig = cards.rig  # the shared client-against-sandbox rig (tests/integration/paytrace)


async def _customer(client: PayTraceClient, customer_id: str = "C1") -> None:
    await client.create_customer(
        CustomerCreateRequest(customer_id=customer_id, credit_card=CARD, billing_address=ADDRESS)
    )


async def test_customer_then_sales(rig: Rig) -> None:
    await _customer(rig.client)
    keyed = await rig.client.sale_keyed(
        KeyedSaleRequest(amount=Decimal("12.30"), credit_card=CARD, csc="999", invoice_id="I-1")
    )
    vaulted = await rig.client.sale_by_customer(
        CustomerSaleRequest(customer_id="C1", amount=Decimal("5"), invoice_id="I-2")
    )
    assert keyed.masked_card_number == "xxxxxxxxxxxx5439"
    assert vaulted.transaction_id != keyed.transaction_id
    record = await rig.client.export_by_id(vaulted.transaction_id)
    assert record is not None
    assert record.amount == Decimal("5.00")
    assert record.invoice_id == "I-2"
    assert record.created_at_utc() == START


async def test_declines_and_validation(rig: Rig) -> None:
    await _customer(rig.client)
    with pytest.raises(DeclinedError) as declined:
        await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="C1", amount="1.12"))
    assert declined.value.response_code == 102
    assert declined.value.transaction_id is not None
    with pytest.raises(DeclinedError) as expired:
        await rig.client.authorize_keyed(KeyedSaleRequest(amount="0.29", credit_card=CARD))
    assert "expired" in expired.value.reason.lower()
    bad = CreditCard(number="54545454545454", expiration_month="14", expiration_year="2030")
    with pytest.raises(DataError) as invalid:
        await rig.client.sale_keyed(KeyedSaleRequest(amount="1", credit_card=bad))
    assert set(invalid.value.fields) == {"35", "43"}
    with pytest.raises(DataError) as duplicate:
        await _customer(rig.client)
    assert set(duplicate.value.fields) == {"171"}


async def test_capture_void_settle_refund(rig: Rig) -> None:
    await _customer(rig.client)
    auth = await rig.client.authorize_by_customer(
        CustomerSaleRequest(customer_id="C1", amount=Decimal("50"), invoice_id="A-1")
    )
    capture = await rig.client.capture(
        CaptureRequest(transaction_id=auth.transaction_id, amount=Decimal("40"))
    )
    assert capture.transaction_id == auth.transaction_id
    with pytest.raises(DataError) as not_settled:
        await rig.client.refund_for_transaction(
            TransactionRefundRequest(transaction_id=auth.transaction_id)
        )
    assert set(not_settled.value.fields) == {"817"}
    await rig.client.settle()
    refund = await rig.client.refund_for_transaction(
        TransactionRefundRequest(transaction_id=auth.transaction_id, amount=Decimal("10"))
    )
    assert refund.transaction_id != auth.transaction_id
    with pytest.raises(DataError) as settled:
        await rig.client.void(VoidRequest(transaction_id=auth.transaction_id))
    assert set(settled.value.fields) == {"818"}


async def test_lost_sale_reply_is_in_doubt_and_found_by_reference(rig: Rig) -> None:
    await _customer(rig.client)
    rig.faults.script("commit_then_drop", path="/v1/transactions/sale/by_customer")
    request = CustomerSaleRequest(customer_id="C1", amount=Decimal("7.77"), invoice_id="PB-42")
    with pytest.raises(InDoubtError) as caught:
        await rig.client.sale_by_customer(request)
    assert caught.value.reference == "PB-42"
    found = await rig.client.find_transactions("PB-42", START - timedelta(minutes=5))
    assert [r.amount for r in found] == [Decimal("7.77")]  # charged exactly once


async def test_read_faults_are_retried(rig: Rig) -> None:
    path = "/v1/transactions/export/by_date_range"
    rig.faults.script("error_html", path=path)
    rig.faults.script("throttle", path=path, retry_after=3)
    assert await rig.client.find_transactions("nothing", START) == []
    assert rig.sleep.waits == [0.5, 3.0]
    rig.faults.script("error_json", path=path, times=3)
    with pytest.raises(RetryableError):
        await rig.client.find_transactions("nothing", START)


async def test_expired_token_is_renewed(rig: Rig) -> None:
    await _customer(rig.client)
    # Only the sandbox's clock moves: our cache still trusts the token PayTrace now refuses.
    await rig.http.post("/_sandbox/clock/advance", json={"seconds": 7300})  # token expires
    sale = await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="C1", amount="3"))
    assert sale.response_code == 101


async def test_poller_sees_each_state_once(rig: Rig) -> None:
    await _customer(rig.client)
    poller = ChangePoller(rig.client, clock=rig.clock)
    auth = await rig.client.authorize_by_customer(
        CustomerSaleRequest(customer_id="C1", amount=Decimal("20"), invoice_id="P-1")
    )
    sale = await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="C1", amount="1"))
    changes, cursor = await poller.poll(PollCursor())
    keys = [c.key for c in changes]
    await rig.advance(600)
    await rig.client.capture(CaptureRequest(transaction_id=auth.transaction_id))
    await rig.client.void(VoidRequest(transaction_id=sale.transaction_id))
    changes, cursor = await poller.poll(cursor)
    keys += [c.key for c in changes]
    await rig.advance(600)
    await rig.client.settle()
    changes, cursor = await poller.poll(cursor)
    keys += [c.key for c in changes]
    await rig.advance(600)
    changes, _ = await poller.poll(cursor)
    assert changes == []
    a, s = auth.transaction_id, sale.transaction_id
    assert keys == [
        f"paytrace:{a}:authorization",
        f"paytrace:{s}:sale",
        f"paytrace:{a}:capture",
        f"paytrace:{s}:void",
        f"paytrace:{a}:settlement",
    ]
