"""A check's export record as facts: kinds in order, tolerant field names, R-codes in words."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.paytrace import CheckRecord
from paybridge.errors import DataError
from paybridge.model import PaymentMethodType, TransactionKind
from paybridge.o2c.checks import CheckFacts

FACTS = CheckFacts(currency="USD", timezone="America/Los_Angeles")


def record(**fields: Any) -> CheckRecord:
    base = {"check_transaction_id": 900001, "transaction_type": "SALE", "status": "PENDING",
            "amount": "40.00", "customer_id": "C1", "created": "1/15/2026 10:00:00 AM"}  # fmt: skip
    return CheckRecord.model_validate({**base, **fields})


def test_a_sale_then_its_return_are_two_facts_in_order_with_the_reason() -> None:
    sale, back = FACTS.facts(
        record(status="RETURNED", returned="1/20/2026 9:00:00 AM", ach_code="R01")
    )
    assert [sale.kind, back.kind] == [TransactionKind.SALE, TransactionKind.RETURN]
    assert sale.key == "paytrace:ACH900001:sale" and back.key == "paytrace:ACH900001:return"
    assert back.description == "R01: insufficient funds" and back.occurred_at > sale.occurred_at
    assert back.amount.amount == Decimal("40.00") and back.amount.currency == "USD"
    assert sale.payment_method_type is PaymentMethodType.ACH


def test_legacy_spellings_are_read_and_an_unknown_code_keeps_the_banks_words() -> None:
    legacy = CheckRecord.model_validate(
        {"check_id": "7", "check_type": "Hold", "status": "Returned", "amount": 12,
         "created": "1/15/2026 10:00 AM", "funded": "1/15/2026 11:00 AM",
         "returned": "1/19/2026", "return_code": "r61", "return_message": "Misrouted Return",
         "parent_check_transaction_id": ""}
    )  # fmt: skip
    kinds = [f.kind for f in FACTS.facts(legacy)]
    assert kinds == [TransactionKind.AUTHORIZATION, TransactionKind.CAPTURE, TransactionKind.RETURN]
    assert FACTS.facts(legacy)[-1].description == "R61: misrouted return"


def test_a_declined_check_is_one_decline_and_a_void_follows_its_sale() -> None:
    (declined,) = FACTS.facts(record(status="DECLINED"))
    assert declined.kind is TransactionKind.DECLINE and declined.response_code == 125
    kinds = [f.kind for f in FACTS.facts(record(status="VOIDED", voided="1/15/2026 1:00 PM"))]
    assert kinds == [TransactionKind.SALE, TransactionKind.VOID]
    (refund,) = FACTS.facts(record(transaction_type="REFUND", check_transaction_id=900002))
    assert refund.kind is TransactionKind.REFUND


def test_a_record_without_a_creation_time_is_refused_naming_it() -> None:
    with pytest.raises(DataError) as refused:
        FACTS.facts(record(created=""))
    assert "created" in refused.value.fields
