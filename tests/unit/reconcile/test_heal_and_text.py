"""Heal events and the report's text formats (amounts, local dates, Excel formats)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from paybridge.model import Money, Transaction, TransactionKind, TransactionStatus
from paybridge.reconcile import heal_envelope
from paybridge.reconcile.render import Amount, excel_date_format, format_amount, format_cell


def sale() -> Transaction:
    return Transaction(
        transaction_id="100000004",
        kind=TransactionKind.SALE,
        status=TransactionStatus.APPROVED,
        amount=Money.of("30.00", "USD"),
        occurred_at=datetime(2026, 3, 10, 16, 0, tzinfo=UTC),
        customer_id="SHOP-1",
    )


def test_a_heal_is_the_canonical_fact_marked_heal_in_its_partition() -> None:
    env = heal_envelope(sale(), "2026-03-10-run-1")
    assert env.topic == "payment" and env.source == "reconcile"
    assert env.key == "paytrace:100000004:sale:heal:2026-03-10-run-1"
    assert env.partition_key == "paytrace:100000004"
    assert env.payload["heal"] is True
    assert Transaction.model_validate(env.payload) == sale()  # the posting flow reads it as is


def test_amounts_show_the_currency_and_its_decimals() -> None:
    assert format_amount(Amount(Decimal("1234.5"), "USD")) == "1,234.50 USD"
    assert format_amount(Amount(Decimal("-15"), "USD")) == "-15.00 USD"
    assert format_amount(Amount(Decimal("1500"), "JPY")) == "1,500 JPY"


def test_dates_and_times_in_the_company_format_and_zone() -> None:
    moment = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    assert format_cell(moment, "%m/%d/%Y", "America/Los_Angeles") == "03/10/2026 20:00 PDT"
    winter = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)
    assert format_cell(winter, "%m/%d/%Y", "America/Los_Angeles") == "01/15/2026 12:00 PST"
    # A zone without letters is named by its offset; a naive time is the report's UTC.
    assert format_cell(winter, "%d.%m.%Y", "Asia/Dubai") == "16.01.2026 00:00 UTC+04:00"
    assert format_cell(winter.replace(tzinfo=None), "%Y-%m-%d", "UTC") == "2026-01-15 20:00 UTC"
    assert format_cell(date(2026, 3, 10), "%d.%m.%Y", "Europe/Berlin") == "10.03.2026"
    assert format_cell(None, "%d", "UTC") == "" and format_cell(7, "%d", "UTC") == "7"


def test_strftime_formats_become_excel_formats() -> None:
    assert excel_date_format("%m/%d/%Y") == "mm/dd/yyyy"
    assert excel_date_format("%d.%m.%Y") == "dd.mm.yyyy"
    assert excel_date_format("%Y-%m-%d") == "yyyy-mm-dd"
