"""The chaos run's money checks count each kind of wrong D365 line, and only that kind."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.paytrace import TransactionRecord
from paybridge.harness.chaos_checks import check_lines, display_value, owed

ACCOUNTS = {"US-001": "US-001", "SHOP-A": "US-006"}


def record(
    txn: int, ttype: str, amount: str, status: tuple[str, str], **kw: Any
) -> TransactionRecord:
    code, message = status
    return TransactionRecord(
        transaction_id=txn, transaction_type=ttype, amount=Decimal(amount), status_code=code,
        status_message=message, customer_id=kw.pop("customer", "US-001"), **kw,
    )  # fmt: skip


PENDING = ("Y", "Pending Settlement")
AUTH_ONLY = ("N", "Authorization Only")
VOIDED = ("N", "Voided")
DECLINED = ("N", "Declined")
SETTLED = ("GB7", "GB7")


def line(txn: int, kind: str, credit: str = "0", debit: str = "0", **kw: str) -> dict[str, Any]:
    return {
        "PaymentId": f"PT-{txn}-{kind}", "PaymentReference": str(txn),
        "CreditAmount": credit, "DebitAmount": debit,
        "AccountDisplayValue": kw.get("account", "US\\-001"), "CurrencyCode": kw.get("cur", "USD"),
    }  # fmt: skip


def test_what_each_final_state_owes() -> None:
    assert owed(record(1, "Sale", "10.00", PENDING)).net == Decimal("10.00")
    assert owed(record(2, "Sale", "10.00", VOIDED)).net == 0
    assert owed(record(3, "Authorization", "10.00", AUTH_ONLY)).net == 0
    assert owed(record(4, "Authorization", "6.00", PENDING)).net == Decimal("6.00")
    assert owed(record(5, "Authorization", "6.00", SETTLED)).net == Decimal("6.00")
    assert owed(record(6, "Refund", "4.00", PENDING)).net == Decimal("-4.00")
    assert owed(record(7, "Refund", "4.00", VOIDED)).net == 0
    declined = owed(record(8, "Sale", "0.29", DECLINED))
    assert declined.declined and declined.net == 0 and declined.anchor is None
    assert owed(record(4, "Authorization", "6.00", PENDING)).anchor == "PT-4-capture"


def test_a_book_that_matches_paytrace_counts_nothing() -> None:
    records = [
        record(1, "Sale", "10.00", PENDING),
        record(2, "Sale", "12.00", VOIDED),
        record(3, "Authorization", "6.00", SETTLED, customer="SHOP-A"),
        record(4, "Refund", "4.00", PENDING),
        record(5, "Refund", "3.00", VOIDED),
        record(6, "Sale", "0.29", DECLINED),
        record(7, "Authorization", "9.00", AUTH_ONLY),
    ]
    lines = [
        line(1, "sale", credit="10.00"),
        line(2, "sale", credit="12.00"), line(2, "void", debit="12.00"),
        line(3, "capture", credit="6.00", account="US\\-006"),
        line(4, "refund", debit="4.00"),
        line(5, "refund", debit="3.00"), line(5, "void", credit="3.00"),
    ]  # fmt: skip
    check = check_lines(records, lines, ACCOUNTS)
    assert check.bad == 0, check.examples
    assert (check.lines, check.transactions) == (7, 7)


@pytest.mark.parametrize(
    ("records", "lines", "count"),
    [
        ([record(1, "Sale", "10.00", PENDING)], [], "lost"),
        ([record(1, "Authorization", "6.00", PENDING)], [], "lost"),
        (
            [record(1, "Sale", "10.00", PENDING)],
            [line(1, "sale", credit="10.00"), line(1, "sale", credit="10.00")],
            "duplicated",
        ),
        ([record(1, "Sale", "0.29", DECLINED)], [line(1, "sale", credit="0.29")], "duplicated"),
        ([], [line(99, "sale", credit="1.00")], "duplicated"),
        # an adjust that never reached D365
        ([record(1, "Sale", "12.00", PENDING)], [line(1, "sale", credit="10.00")], "wrong_amount"),
        # a voided sale that stays credited
        ([record(1, "Sale", "10.00", VOIDED)], [line(1, "sale", credit="10.00")], "wrong_amount"),
        # a voided refund that stays debited
        ([record(1, "Refund", "4.00", VOIDED)], [line(1, "refund", debit="4.00")], "wrong_amount"),
        # a partial capture booked at the authorized amount
        (
            [record(1, "Authorization", "6.00", PENDING)],
            [line(1, "capture", credit="10.00")],
            "wrong_amount",
        ),
        ([record(1, "Sale", "10.00", PENDING)], [line(1, "sale", debit="10.00")], "wrong_sign"),
        (
            [record(1, "Sale", "10.00", PENDING)],
            [line(1, "sale", credit="10.00", account="US\\-002")],
            "wrong_account",
        ),
        (
            [record(1, "Sale", "10.00", PENDING, customer="SHOP-A")],
            [line(1, "sale", credit="10.00", account="SHOP\\-A")],
            "wrong_account",
        ),
        (
            [record(1, "Sale", "10.00", PENDING)],
            [line(1, "sale", credit="10.00", cur="EUR")],
            "wrong_currency",
        ),
    ],
)
def test_each_wrong_book_is_counted_under_its_name(
    records: list[TransactionRecord], lines: list[dict[str, Any]], count: str
) -> None:
    counts = check_lines(records, lines, ACCOUNTS).counts()
    money = {k: v for k, v in counts.items() if k not in ("lines", "transactions")}
    assert money[count] >= 1, counts
    assert sum(money.values()) == money[count], counts  # and nothing else


def test_display_values_lose_their_escapes() -> None:
    assert display_value("US\\-002") == "US-002"
    assert display_value("PLAIN") == "PLAIN"
