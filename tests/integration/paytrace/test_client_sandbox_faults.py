"""Every fault kind of the sandbox's FaultPlan, seen through PayTraceClient.

Reads are repeated within the retry budget; a money call is never repeated: a lost reply is
InDoubtError, resolved by looking (find_transactions, export_by_id), which must show the call
took effect exactly once (commit_then_drop) or not at all (reset, 5xx, 429).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from paybridge.connectors.paytrace import (
    CaptureRequest,
    CheckAccount,
    CheckSaleByAccountRequest,
    CustomerCreateRequest,
    CustomerExportRequest,
    KeyedSaleRequest,
    TransactionRefundRequest,
    TransactionResponse,
)
from paybridge.errors import InDoubtError, RetryableError
from tests.integration.paytrace.test_client_sandbox_cards import (
    START,
    VISA,
    Rig,
    open_rig,
    record_of,
)

pytestmark = pytest.mark.anyio
SALE = "/v1/transactions/sale/keyed"
CAPTURE = "/v1/transactions/authorization/capture"
REFUND = "/v1/transactions/refund/for_transaction"
BY_ID = "/v1/transactions/export/by_id"
SINCE = START - timedelta(minutes=5)
MoneyCall = Callable[[Rig], Awaitable[TransactionResponse]]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with open_rig() as opened:
        yield opened


async def sale(rig: Rig, amount: str = "10", invoice_id: str = "PB-1") -> TransactionResponse:
    return await rig.client.sale_keyed(
        KeyedSaleRequest(amount=amount, credit_card=VISA, invoice_id=invoice_id)
    )


@pytest.mark.parametrize(("kind", "status"), [("error_json", 503), ("error_html", 502)])
async def test_server_errors_on_a_read_are_retried_then_raised(
    rig: Rig, kind: str, status: int
) -> None:
    txn = await sale(rig)
    rig.faults.script(kind, path=BY_ID, times=2)
    assert (await record_of(rig, txn.transaction_id)).amount == Decimal("10.00")
    assert rig.sleep.waits == [0.5, 1.0]  # two failures, two backoffs, third attempt served
    rig.faults.script(kind, path=BY_ID, times=3)
    with pytest.raises(RetryableError) as exhausted:
        await rig.client.export_by_id(txn.transaction_id)
    assert exhausted.value.status == status
    assert exhausted.value.operation == "export_by_id"
    assert rig.faults.report()["injected"] == {kind: 5}


async def test_throttle_honours_retry_after_through_the_injected_sleep(rig: Rig) -> None:
    txn = await sale(rig)
    rig.faults.script("throttle", path=BY_ID, retry_after=4)
    rig.faults.script("throttle", path=BY_ID, retry_after=2)
    assert (await record_of(rig, txn.transaction_id)).transaction_id == txn.transaction_id
    assert rig.sleep.waits == [4.0, 2.0]
    rig.faults.script("throttle", path=BY_ID, retry_after=120)
    with pytest.raises(RetryableError) as too_long:
        await rig.client.export_by_id(txn.transaction_id)
    assert (too_long.value.retry_after, too_long.value.status) == (120.0, 429)
    assert rig.sleep.waits == [4.0, 2.0]  # a wait beyond max_retry_wait is left to the caller


async def test_reset_on_a_read_is_retried(rig: Rig) -> None:
    await sale(rig, invoice_id="R-1")
    rig.faults.script("reset", path="/v1/transactions/export/by_date_range")
    [found] = await rig.client.find_transactions("R-1", SINCE)
    assert found.invoice_id == "R-1"
    assert rig.sleep.waits == [0.5]


async def test_latency_is_served_after_the_wait(rig: Rig) -> None:
    rig.faults.script("latency", path=SALE, latency_seconds=2.5)
    txn = await sale(rig)
    assert txn.response_code == 101
    assert rig.sandbox_sleep.waits == [2.5]
    assert rig.sleep.waits == []


async def test_throttled_sale_is_not_processed_and_not_resent(rig: Rig) -> None:
    rig.faults.script("throttle", path=SALE, retry_after=1)
    with pytest.raises(RetryableError) as throttled:
        await sale(rig)
    assert throttled.value.retry_after == 1.0
    assert rig.sleep.waits == []  # the client does not resend a charge, even after a 429
    assert rig.transaction_count() == 0
    assert (await sale(rig)).response_code == 101  # the caller may send it again


async def _captured(rig: Rig) -> TransactionResponse:
    auth = await rig.client.authorize_keyed(
        KeyedSaleRequest(amount="50", credit_card=VISA, invoice_id="A-1")
    )
    return await rig.client.capture(
        CaptureRequest(transaction_id=auth.transaction_id, amount=Decimal("30"))
    )


async def _refunded(rig: Rig) -> TransactionResponse:
    settled = await sale(rig, "50", "S-1")
    await rig.client.settle()
    return await rig.client.refund_for_transaction(
        TransactionRefundRequest(
            transaction_id=settled.transaction_id, amount=Decimal("30"), invoice_id="RF-1"
        )
    )


async def _sold(rig: Rig) -> TransactionResponse:
    return await sale(rig, "30", "PB-9")


@pytest.mark.parametrize(
    ("path", "call", "reference"),
    [(SALE, _sold, "PB-9"), (REFUND, _refunded, "RF-1")],
    ids=["sale", "refund"],
)
async def test_commit_then_drop_charges_once_and_is_found_by_reference(
    rig: Rig, path: str, call: MoneyCall, reference: str
) -> None:
    rig.faults.script("commit_then_drop", path=path)
    before = rig.transaction_count()
    with pytest.raises(InDoubtError) as caught:
        await call(rig)
    assert caught.value.reference == reference
    assert rig.sleep.waits == []  # looked up, never resent
    found = await rig.client.find_transactions(reference, SINCE)
    assert [r.amount for r in found] == [Decimal("30.00")]
    # The refund of an earlier setup sale adds one row too: exactly one per money call.
    assert rig.transaction_count() - before == (2 if path == REFUND else 1)


@pytest.mark.parametrize("kind", ["reset", "error_json", "error_html"])
@pytest.mark.parametrize(
    ("path", "call", "reference"),
    [(SALE, _sold, "PB-9"), (REFUND, _refunded, "RF-1")],
    ids=["sale", "refund"],
)
async def test_failures_before_processing_leave_nothing_to_find(
    rig: Rig, kind: str, path: str, call: MoneyCall, reference: str
) -> None:
    rig.faults.script(kind, path=path)
    with pytest.raises(InDoubtError) as caught:
        await call(rig)
    assert caught.value.reference == reference
    assert rig.sleep.waits == []
    assert await rig.client.find_transactions(reference, SINCE) == []
    assert rig.faults.report()["injected"] == {kind: 1}


async def test_capture_in_doubt_is_resolved_by_the_transaction_id(rig: Rig) -> None:
    rig.faults.script("commit_then_drop", path=CAPTURE)
    with pytest.raises(InDoubtError) as dropped:
        await _captured(rig)
    record = await record_of(rig, int(dropped.value.reference))
    assert (record.status_message, record.amount) == ("Pending Settlement", Decimal("30.00"))
    rig.faults.script("reset", path=CAPTURE)
    with pytest.raises(InDoubtError) as reset:
        await _captured(rig)
    untouched = await record_of(rig, int(reset.value.reference))
    assert (untouched.status_message, untouched.amount) == ("Authorization Only", Decimal("50.00"))
    assert rig.transaction_count() == 2  # capture keeps the id: no new rows either way


async def test_vault_and_check_writes_in_doubt(rig: Rig) -> None:
    rig.faults.script("commit_then_drop", path="/v1/customer/create")
    with pytest.raises(InDoubtError) as customer:
        await rig.client.create_customer(CustomerCreateRequest(customer_id="C7", credit_card=VISA))
    assert customer.value.reference == "C7"
    found = await rig.client.export_customers(CustomerExportRequest(customer_id="C7"))
    assert [c.customer_id for c in found] == ["C7"]
    rig.faults.script("commit_then_drop", path="/v1/checks/sale/by_account")
    account = CheckAccount(account_number="123456", routing_number="325070760")
    with pytest.raises(InDoubtError) as check:
        await rig.client.check_sale_by_account(
            CheckSaleByAccountRequest(amount="9", check=account, invoice_id="ACH-9")
        )
    assert check.value.reference == "ACH-9"
    assert [c.amount for c in rig.sandbox.state.checks.values()] == [Decimal("9.00")]
