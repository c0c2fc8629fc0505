"""The canonical models: frozen, Decimal money with ISO currency, aware UTC times, no card data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from paybridge.model import (
    AccountType,
    Address,
    Customer,
    Event,
    Invoice,
    JournalKind,
    JournalLine,
    Money,
    PaymentMethod,
    SalesOrder,
    SettlementBatch,
    Side,
    SourceSystem,
)

WHEN = datetime(2026, 4, 11, 3, 13, tzinfo=UTC)


def test_address_and_customer() -> None:
    address = Address(name="Birch", street_lines=("1 Main St", "Suite 2"), country="us")
    assert address.country == "US"
    with pytest.raises(ValidationError, match="alpha-2"):
        Address(country="USA")
    assert Address(country=" ").country is None
    customer = Customer(account="US-027", first_name="Ana", last_name="Lee", currency="usd",
                        billing_address=address, custom_fields={"Region": "West"})  # fmt: skip
    assert customer.currency == "USD"
    with pytest.raises(ValidationError):
        customer.account = "X"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="ISO 4217"):
        Customer(currency="dollars")


def test_payment_method_keeps_only_masked_numbers() -> None:
    method = PaymentMethod(token="C-1733439821", masked_number="xxxxxxxxxxxx5439", brand="VISA")
    assert method.masked_number == "xxxxxxxxxxxx5439"
    with pytest.raises(ValidationError, match="only masked numbers") as caught:
        PaymentMethod(token="t", masked_number="4012000098765439")
    assert "4012000098765439" not in str(caught.value).split("input_value")[0]
    with pytest.raises(ValidationError):
        PaymentMethod(token="t", masked_number="4012 0000 9876 5439 x")
    with pytest.raises(ValidationError):
        PaymentMethod(token="", masked_number=None)


def test_settlement_batch_totals_and_currency() -> None:
    batch = SettlementBatch(batch_number="571", settled_at=WHEN, sales_count=3,
                            sales_total=Money.of("150.00", "USD"), refund_count=1,
                            refund_total=Money.of("20.25", "USD"), fee_total=Money.of("4.10", "USD"))  # fmt: skip
    assert batch.net_total == Money.of("125.65", "USD")
    assert batch.currency == "USD"
    assert batch.key == "paytrace:batch-571:settlement"
    dumped = batch.model_dump(mode="json")
    assert dumped["net_total"] == {"amount": "125.65", "currency": "USD"}
    with pytest.raises(ValidationError, match="share one currency"):
        SettlementBatch(batch_number="1", settled_at=WHEN, sales_total=Money.of(1, "USD"),
                        refund_total=Money.of(0, "EUR"))  # fmt: skip
    with pytest.raises(ValidationError, match="timezone-aware"):
        SettlementBatch(batch_number="1", settled_at=datetime(2026, 1, 1),
                        sales_total=Money.of(1, "USD"), refund_total=Money.of(0, "USD"))  # fmt: skip


def test_times_are_normalised_to_utc() -> None:
    pacific = timezone(timedelta(hours=-7))
    event = Event(key="paytrace:1:sale", type="paytrace.transaction", source=SourceSystem.PAYTRACE,
                  occurred_at=datetime(2026, 4, 10, 16, 6, 30, tzinfo=pacific), payload={"a": 1})  # fmt: skip
    assert event.occurred_at == datetime(2026, 4, 10, 23, 6, 30, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert event.mapped_with is None
    with pytest.raises(ValidationError):
        Event(key="", type="t", source="paytrace", occurred_at=WHEN)


def test_sales_order_and_invoice() -> None:
    order = SalesOrder(company="usmf", order_number="000869", customer_account="US-027",
                       total=Money.of("4309.50", "USD"), tax_total=Money.of("309.50", "USD"),
                       created_at=WHEN)  # fmt: skip
    assert order.total.amount == Decimal("4309.50")
    with pytest.raises(ValidationError, match="order currency"):
        SalesOrder(company="usmf", order_number="1", customer_account="A",
                   total=Money.of(1, "USD"), tax_total=Money.of(1, "EUR"))  # fmt: skip
    invoice = Invoice(company="usmf", invoice_number="CIV-1", invoice_date=date(2026, 7, 15),
                      customer_account="US-027", total=Money.of("10", "USD"))  # fmt: skip
    assert invoice.invoice_date.isoformat() == "2026-07-15"
    with pytest.raises(ValidationError, match="invoice currency"):
        Invoice(company="usmf", invoice_number="CIV-1", invoice_date=date(2026, 7, 15),
                customer_account="A", total=Money.of(1, "USD"), tax_total=Money.of(1, "JPY"))  # fmt: skip


def test_journal_line_amounts_are_positive_with_a_side() -> None:
    line = JournalLine(kind=JournalKind.CUSTOMER_PAYMENT, company="usmf",
                       transaction_date=date(2026, 3, 7), account_type=AccountType.CUSTOMER,
                       account="US-001", offset_account_type=AccountType.BANK,
                       offset_account="USMF OPER", side=Side.CREDIT,
                       amount=Money.of("51.88", "USD"), payment_reference="125391271")  # fmt: skip
    assert line.side is Side.CREDIT and line.amount == Money.of("51.88", "USD")
    with pytest.raises(ValidationError, match="must be positive"):
        JournalLine(kind="general", company="usmf", transaction_date=date(2026, 3, 7),
                    account_type="Bank", account="A", offset_account_type="Bank",
                    offset_account="B", side="debit", amount=Money.of("0", "USD"),
                    payment_reference="x")  # fmt: skip
