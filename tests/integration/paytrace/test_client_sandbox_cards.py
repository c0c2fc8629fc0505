"""Card transactions through PayTraceClient against the sandbox, each read back through the exports.

Also home of ``open_rig``, the client-plus-sandbox wiring the other test_client_sandbox_* files use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import (
    Address,
    AdjustRequest,
    CaptureRequest,
    CreditCard,
    CustomerCreateRequest,
    CustomerRefundRequest,
    CustomerSaleRequest,
    EmailReceiptRequest,
    KeyedRefundRequest,
    KeyedSaleRequest,
    LevelThreeLineItem,
    LevelThreeRequest,
    PayTraceClient,
    TransactionRecord,
    TransactionRefundRequest,
    TransactionSaleRequest,
    VoidRequest,
)
from paybridge.errors import DataError
from paybridge_sandbox.faults import FaultPlan
from paybridge_sandbox.paytrace.app import create_app
from paybridge_sandbox.paytrace.settings import PayTraceSandboxSettings, SandboxClock
from paybridge_sandbox.paytrace.state import PayTraceSandbox
from tests.conftest import asgi_client

pytestmark = pytest.mark.anyio
# 09:00 in Los Angeles: the nightly settlement (20:00 local) is 11 hours away.
START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
BASE_URL = "https://api.paytrace.com"
INTEGRATOR = "SANDBOX00001"
VISA = CreditCard(number="4012000098765439", expiration_month="12", expiration_year="2030")
MASTERCARD = CreditCard(number="5499740000000057", expiration_month=12, expiration_year=2030)
ADDRESS = Address(name="Nathan Williams", street_address="1234 Main St.", zip="90210")


class NoWait:
    """The client's injected sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Rig:
    client: PayTraceClient
    http: httpx.AsyncClient
    sandbox: PayTraceSandbox
    clock: ManualClock
    faults: FaultPlan
    sleep: NoWait
    sandbox_sleep: NoWait  # where the sandbox's latency faults "wait"

    async def advance(self, seconds: float) -> None:
        """Move both clocks; the sandbox runs what fell due (settlements, recurring charges)."""
        self.clock.advance(seconds)
        reply = await self.http.post("/_sandbox/clock/advance", json={"seconds": seconds})
        assert reply.status_code == 200

    def client_with(
        self,
        *,
        password: str = "sandbox",  # noqa: S107 - the sandbox's public login
        integrator_id: str = INTEGRATOR,
    ) -> PayTraceClient:
        """Another client on the same sandbox, e.g. with a wrong integrator id or password."""
        return PayTraceClient(
            self.http,
            username="sandbox",
            password=password,
            integrator_id=integrator_id,
            clock=self.clock,
            sleep=self.sleep,
        )

    def transaction_count(self) -> int:
        return len(self.sandbox.state.transactions)


@asynccontextmanager
async def open_rig(settings: PayTraceSandboxSettings | None = None) -> AsyncIterator[Rig]:
    faults = FaultPlan()
    sandbox_sleep = NoWait()
    app = create_app(settings, clock=SandboxClock(START), faults=faults, sleep=sandbox_sleep)
    sandbox: PayTraceSandbox = app.state.sandbox
    clock = ManualClock(START)
    sleep = NoWait()
    async with asgi_client(app, BASE_URL) as http:
        client = PayTraceClient(
            http,
            username="sandbox",
            password="sandbox",
            integrator_id=INTEGRATOR,
            clock=clock,
            sleep=sleep,
        )
        yield Rig(client, http, sandbox, clock, faults, sleep, sandbox_sleep)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with open_rig() as opened:
        yield opened


async def add_customer(rig: Rig, customer_id: str = "C1", card: CreditCard = VISA) -> None:
    await rig.client.create_customer(
        CustomerCreateRequest(customer_id=customer_id, credit_card=card, billing_address=ADDRESS)
    )


async def record_of(rig: Rig, transaction_id: int) -> TransactionRecord:
    record = await rig.client.export_by_id(transaction_id)
    assert record is not None
    return record


async def test_keyed_sale_carries_every_detail_into_the_export(rig: Rig) -> None:
    sale = await rig.client.sale_keyed(
        KeyedSaleRequest(
            amount=Decimal("12.30"),
            credit_card=VISA,
            csc="999",
            invoice_id="INV-1",
            description="two widgets",
            customer_reference_id="PO-77",
            tax_amount=Decimal("0.81"),
            billing_address=ADDRESS,
            discretionary_data={"Route": "north"},
        )
    )
    assert (sale.success, sale.response_code) == (True, 101)
    assert sale.approval_code.startswith("TAS")
    assert sale.csc_response == "Match"
    assert sale.masked_card_number == "xxxxxxxxxxxx5439"
    assert sale.discretionary_data == {"Route": "north"}
    record = await record_of(rig, sale.transaction_id)
    assert (record.transaction_type, record.amount) == ("SALE", Decimal("12.30"))
    assert (record.status_code, record.status_message) == ("Y", "Pending Settlement")
    assert (record.invoice_id, record.description) == ("INV-1", "two widgets")
    assert (record.customer_reference_id, record.tax_amount) == ("PO-77", Decimal("0.81"))
    assert record.billing_address is not None and record.billing_address.zip == "90210"
    assert record.credit_card is not None
    assert record.credit_card.masked_number == "************5439"
    assert record.created_at_utc() == START
    assert record.created.through == "API"


async def test_keyed_authorization_of_zero_verifies_the_card(rig: Rig) -> None:
    auth = await rig.client.authorize_keyed(KeyedSaleRequest(amount="0.00", credit_card=VISA))
    assert auth.response_code == 101
    record = await record_of(rig, auth.transaction_id)
    assert (record.transaction_type, record.amount) == ("AUTHORIZATION", Decimal("0.00"))
    assert (record.status_code, record.status_message) == ("N", "Authorization Only")


async def test_charges_by_customer_and_by_transaction(rig: Rig) -> None:
    await add_customer(rig)
    by_customer = await rig.client.sale_by_customer(
        CustomerSaleRequest(customer_id="C1", amount=Decimal("25"), csc="999")
    )
    assert by_customer.masked_card_number is None  # spec §5.2: absent on vault sales
    assert by_customer.csc_response == "Match"
    held = await rig.client.authorize_by_customer(
        CustomerSaleRequest(customer_id="C1", amount=Decimal("8.40"))
    )
    again = await rig.client.sale_by_transaction(
        TransactionSaleRequest(transaction_id=by_customer.transaction_id, amount=Decimal("19.95"))
    )
    re_held = await rig.client.authorize_by_transaction(
        TransactionSaleRequest(transaction_id=held.transaction_id, amount=Decimal("3"))
    )
    ids = [by_customer, held, again, re_held]
    assert len({r.transaction_id for r in ids}) == 4
    records = [await record_of(rig, r.transaction_id) for r in ids]
    assert [(r.transaction_type, r.amount, r.customer_id) for r in records] == [
        ("SALE", Decimal("25.00"), "C1"),
        ("AUTHORIZATION", Decimal("8.40"), "C1"),
        ("SALE", Decimal("19.95"), "C1"),
        ("AUTHORIZATION", Decimal("3.00"), "C1"),
    ]
    assert {r.credit_card.masked_number for r in records if r.credit_card} == {"************5439"}


async def test_full_and_partial_capture_keep_the_authorization_id(rig: Rig) -> None:
    full = await rig.client.authorize_keyed(KeyedSaleRequest(amount="50", credit_card=VISA))
    part = await rig.client.authorize_keyed(KeyedSaleRequest(amount="20", credit_card=VISA))
    captured = await rig.client.capture(CaptureRequest(transaction_id=full.transaction_id))
    partial = await rig.client.capture(
        CaptureRequest(transaction_id=part.transaction_id, amount=Decimal("7.50"))
    )
    assert (captured.response_code, captured.transaction_id) == (112, full.transaction_id)
    assert (partial.response_code, partial.transaction_id) == (112, part.transaction_id)
    assert (await record_of(rig, full.transaction_id)).amount == Decimal("50.00")
    record = await record_of(rig, part.transaction_id)
    assert (record.amount, record.status_code) == (Decimal("7.50"), "Y")
    with pytest.raises(DataError) as twice:
        await rig.client.capture(CaptureRequest(transaction_id=full.transaction_id))
    assert set(twice.value.fields) == {"816"}
    assert "Only uncaptured, approved authorizations" in twice.value.fields["816"]


async def test_capture_of_a_sale_and_of_too_much_is_refused(rig: Rig) -> None:
    sale = await rig.client.sale_keyed(KeyedSaleRequest(amount="5", credit_card=VISA))
    with pytest.raises(DataError) as not_auth:
        await rig.client.capture(CaptureRequest(transaction_id=sale.transaction_id))
    assert set(not_auth.value.fields) == {"816"}
    auth = await rig.client.authorize_keyed(KeyedSaleRequest(amount="5", credit_card=VISA))
    with pytest.raises(DataError) as too_much:
        await rig.client.capture(CaptureRequest(transaction_id=auth.transaction_id, amount="6"))
    assert set(too_much.value.fields) == {"57"}
    assert (await record_of(rig, auth.transaction_id)).status_message == "Authorization Only"


async def test_void_of_sale_and_authorization_then_818_after_settlement(rig: Rig) -> None:
    sale = await rig.client.sale_keyed(KeyedSaleRequest(amount="9", credit_card=VISA))
    auth = await rig.client.authorize_keyed(KeyedSaleRequest(amount="4", credit_card=VISA))
    kept = await rig.client.sale_keyed(KeyedSaleRequest(amount="3", credit_card=VISA))
    for txn in (sale, auth):
        voided = await rig.client.void(VoidRequest(transaction_id=txn.transaction_id))
        assert (voided.response_code, voided.transaction_id) == (109, txn.transaction_id)
        record = await record_of(rig, txn.transaction_id)
        assert (record.status_code, record.status_message) == ("N", "Voided")
    await rig.client.settle()
    with pytest.raises(DataError) as settled:
        await rig.client.void(VoidRequest(transaction_id=kept.transaction_id))
    assert set(settled.value.fields) == {"818"}
    assert settled.value.status == 400
    assert (settled.value.request_id or "").startswith("sandbox-")


async def test_settle_closes_the_batch_with_gb_status(rig: Rig) -> None:
    sale = await rig.client.sale_keyed(KeyedSaleRequest(amount="10", credit_card=VISA))
    auth = await rig.client.authorize_keyed(KeyedSaleRequest(amount="10", credit_card=VISA))
    settled = await rig.client.settle()
    assert (settled.response_code, settled.model_extra) == (
        175,
        {"transaction_count": 1, "batch_number": 1},
    )
    record = await record_of(rig, sale.transaction_id)
    assert (record.status_code, record.batch_number) == ("GB1", 1)
    assert record.settled_at_utc() == START
    assert (await record_of(rig, auth.transaction_id)).status_code == "N"  # auths never settle
    empty = await rig.client.settle()
    assert empty.model_extra == {"transaction_count": 0}


async def test_refund_for_transaction_only_after_settlement_and_up_to_the_amount(rig: Rig) -> None:
    sale = await rig.client.sale_keyed(KeyedSaleRequest(amount="50", credit_card=VISA))
    with pytest.raises(DataError) as early:
        await rig.client.refund_for_transaction(
            TransactionRefundRequest(transaction_id=sale.transaction_id)
        )
    assert set(early.value.fields) == {"817"}
    assert "try to void" in early.value.fields["817"]
    await rig.client.settle()
    part = await rig.client.refund_for_transaction(
        TransactionRefundRequest(
            transaction_id=sale.transaction_id, amount=Decimal("10"), invoice_id="R-1"
        )
    )
    rest = await rig.client.refund_for_transaction(
        TransactionRefundRequest(transaction_id=sale.transaction_id)
    )
    assert part.response_code == rest.response_code == 106
    assert part.masked_card_number == "xxxxxxxxxxxx5439"
    amounts = [(await record_of(rig, r.transaction_id)).amount for r in (part, rest)]
    assert amounts == [Decimal("10.00"), Decimal("40.00")]
    assert (await record_of(rig, part.transaction_id)).invoice_id == "R-1"
    with pytest.raises(DataError) as exhausted:
        await rig.client.refund_for_transaction(
            TransactionRefundRequest(transaction_id=sale.transaction_id, amount="1")
        )
    assert set(exhausted.value.fields) == {"56"}


async def test_keyed_and_customer_refunds(rig: Rig) -> None:
    await add_customer(rig, "C9", MASTERCARD)
    keyed = await rig.client.refund_keyed(
        KeyedRefundRequest(amount=Decimal("4.25"), credit_card=VISA, invoice_id="RK-1")
    )
    to_customer = await rig.client.refund_to_customer(
        CustomerRefundRequest(customer_id="C9", amount=Decimal("6"), description="goodwill")
    )
    assert keyed.response_code == to_customer.response_code == 106
    assert keyed.masked_card_number == "xxxxxxxxxxxx5439"
    k, c = (
        await record_of(rig, keyed.transaction_id),
        await record_of(rig, to_customer.transaction_id),
    )
    assert (k.transaction_type, k.amount, k.invoice_id) == ("REFUND", Decimal("4.25"), "RK-1")
    assert (c.transaction_type, c.amount, c.customer_id) == ("REFUND", Decimal("6.00"), "C9")
    assert c.credit_card is not None and c.credit_card.masked_number.endswith("0057")
    with pytest.raises(DataError) as unknown:
        await rig.client.refund_to_customer(CustomerRefundRequest(customer_id="nobody", amount=1))
    assert unknown.value.fields == {"30": "Customer ID, nobody, was not found or is incomplete."}


async def test_adjust_changes_an_unsettled_amount_only(rig: Rig) -> None:
    sale = await rig.client.sale_keyed(KeyedSaleRequest(amount="20", credit_card=VISA))
    adjusted = await rig.client.adjust(
        AdjustRequest(transaction_id=sale.transaction_id, amount=Decimal("18.75"))
    )
    assert (adjusted.response_code, adjusted.transaction_id) == (180, sale.transaction_id)
    assert (await record_of(rig, sale.transaction_id)).amount == Decimal("18.75")
    await rig.client.settle()
    with pytest.raises(DataError) as settled:
        await rig.client.adjust(AdjustRequest(transaction_id=sale.transaction_id, amount="1"))
    assert set(settled.value.fields) == {"62"}


async def test_email_receipt_is_recorded_on_the_transaction(rig: Rig) -> None:
    sale = await rig.client.sale_keyed(KeyedSaleRequest(amount="2", credit_card=VISA))
    sent = await rig.client.email_receipt(
        EmailReceiptRequest(transaction_id=sale.transaction_id, email="nat@example.com")
    )
    assert (sent.response_code, sent.success) == (149, True)
    assert "nat@example.com" in sent.status_message
    assert (await record_of(rig, sale.transaction_id)).receipt_emailed_to == "nat@example.com"
    with pytest.raises(DataError) as bad:
        await rig.client.email_receipt(
            EmailReceiptRequest(transaction_id=sale.transaction_id, email="not an address")
        )
    assert set(bad.value.fields) == {"50"}


async def test_level_three_for_visa_and_mastercard(rig: Rig) -> None:
    visa = await rig.client.sale_keyed(KeyedSaleRequest(amount="30", credit_card=VISA))
    mc = await rig.client.sale_keyed(KeyedSaleRequest(amount="40", credit_card=MASTERCARD))
    items = [
        LevelThreeLineItem(description="bolt", quantity=Decimal("2"), unit_cost=Decimal("10")),
        LevelThreeLineItem(description="nut", quantity=Decimal("1.5"), amount=Decimal("10")),
    ]
    visa_l3 = await rig.client.level_three_visa(
        LevelThreeRequest(
            transaction_id=visa.transaction_id, tax_amount=Decimal("1.10"), line_items=items
        )
    )
    assert visa_l3.response_code == 170
    assert visa_l3.status_message.endswith("2 line item records were created.")
    mc_item = LevelThreeLineItem(
        description="gear", debit_or_credit="D", tax_included=True, discount_included=False
    )
    mc_l3 = await rig.client.level_three_mastercard(
        LevelThreeRequest(
            transaction_id=mc.transaction_id, additional_tax_included=True, line_items=[mc_item]
        )
    )
    assert mc_l3.response_code == 170
    assert f"Transaction ID {mc.transaction_id}. 1 line item" in mc_l3.status_message
    with pytest.raises(DataError) as wrong_brand:
        await rig.client.level_three_visa(LevelThreeRequest(transaction_id=mc.transaction_id))
    assert set(wrong_brand.value.fields) == {"59"}
    await rig.client.settle()
    with pytest.raises(DataError) as settled:
        await rig.client.level_three_visa(LevelThreeRequest(transaction_id=visa.transaction_id))
    assert set(settled.value.fields) == {"63"}
