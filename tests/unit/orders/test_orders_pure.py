"""The orders capability's pure parts and the order book's compare-and-set, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import F
from paybridge.keys import order_fact, order_partition
from paybridge.orders.payments import brand_of
from paybridge.orders.records import (
    APPROVED,
    AWAITING,
    OPEN,
    Capture,
    OrderBook,
    OrderPayment,
    RefundRequest,
)
from paybridge.orders.settings import OrdersSettings
from paybridge.orders.watch import any_of, order_total
from paybridge.store import open_engine

NOW = datetime(2026, 7, 15, 16, 0, tzinfo=UTC)


@pytest.fixture
def book(store_url: str) -> OrderBook:
    """On SQLite and PostgreSQL (``store_url``): the compare-and-set must hold on both."""
    return OrderBook(open_engine(store_url), ManualClock(NOW))


def payment(**changes: object) -> OrderPayment:
    base = dict(company="usmf", order_number="000701", account="US-001", customer_id="C-1",
                currency="USD", total=Decimal("100.00"), captured=Decimal(0), state=OPEN,
                auth_number=0, auth_id=None, auth_amount=None, auth_expires_at=None, brand=None,
                reason=None, version=0)  # fmt: skip
    base.update(changes)
    return OrderPayment(**base)  # type: ignore[arg-type]


def test_fact_keys_name_company_document_and_part() -> None:
    assert order_fact("USMF", "000701", "auth", 2) == "d365:usmf:000701:auth:2"
    assert order_fact("usmf", "CCN-1", "refund") == "d365:usmf:CCN-1:refund"
    assert order_partition("USMF", "000701") == "d365:usmf:000701"


@pytest.mark.parametrize(
    ("masked", "brand"),
    [("401200******5439", "VISA"), ("549974******0057", "MASTERCARD"),
     ("371449*****2376", "AMEX"), ("601100******6909", "DISCOVER"), ("************5439", "other")],
)  # fmt: skip
def test_brand_from_a_bin_first_masked_number(masked: str, brand: str) -> None:
    assert brand_of(masked) == brand


def test_order_total_is_the_calculated_total_or_the_sum_of_the_lines() -> None:
    lines = [{"LineAmount": "25.10"}, {"LineAmount": 10}]
    assert order_total({"AreTotalsCalculated": "No", "OrderTotalAmount": 0,
                        "SalesOrderLines": lines}) == Decimal("35.10")  # fmt: skip
    assert order_total({"AreTotalsCalculated": "Yes", "OrderTotalAmount": "40.5",
                        "SalesOrderLines": lines}) == Decimal("40.5")  # fmt: skip
    assert order_total({"OrderTotalAmount": 0}) == Decimal(0)


def test_any_of_renders_an_or_chain_since_fo_has_no_in() -> None:
    rendered = ((F("dataAreaId") == "usmf") & any_of("SalesOrderNumber", ["A", "B'C"])).render()
    assert rendered == (
        "dataAreaId eq 'usmf' and (SalesOrderNumber eq 'A' or SalesOrderNumber eq 'B''C')"
    )


def test_authorization_days_need_an_other_entry_and_sane_lengths() -> None:
    settings = OrdersSettings(authorization_days={"visa": 5, "other": 9})
    assert settings.days_for("VISA") == 5 and settings.days_for("JCB") == 9
    with pytest.raises(ValidationError, match="'other' entry"):
        OrdersSettings(authorization_days={"VISA": 7})
    with pytest.raises(ValidationError, match="1 to 30 days"):
        OrdersSettings(authorization_days={"other": 45})
    with pytest.raises(ValidationError):
        OrdersSettings(over_authorization_percent=Decimal(-1))


def test_an_order_moves_only_from_the_version_it_was_read_at(book: OrderBook) -> None:
    first = book.start(payment())
    again = book.start(payment(total=Decimal("999")))  # the first record wins
    moved = book.save(first, auth_number=1, auth_id="100", auth_amount=Decimal("100.00"))
    stale = book.save(first, auth_number=1, auth_id="200")
    assert again.total == Decimal("100.00")
    assert moved is not None and moved.auth_id == "100" and moved.version == 1
    assert stale is None
    assert [o.order_number for o in book.watched()] == ["000701"]


def test_refunds_count_against_each_capture_while_waiting_or_in_doubt(book: OrderBook) -> None:
    book.start(payment())
    assert book.add_capture(Capture("usmf", "CIV-1", "000701", "100", Decimal("60.00")))
    assert not book.add_capture(Capture("usmf", "CIV-1", "000701", "100", Decimal("60.00")))
    waiting = book.request_refund(RefundRequest(
        request_id="r1", company="usmf", order_number="000701", credit_note="CCN-1",
        amount=Decimal("40"), currency="USD", status=AWAITING, requested_by="d365",
        decided_by=None, reason=None, parts=None,
    ))  # fmt: skip
    planned = book.move_refund(waiting, AWAITING, parts=[("100", Decimal("40"))])
    assert planned is not None
    assert book.refunded("usmf", "000701") == {"100": Decimal("40")}
    assert book.refunded("usmf", "000701", besides="r1") == {}
    assert book.move_refund(waiting, APPROVED) is None  # parts were set: the status was read
    approved = book.move_refund(planned, APPROVED, decided_by="key:b")
    assert approved is not None and approved.parts == (("100", Decimal("40")),)
