"""Canonical data model: pure, frozen, no I/O; the one vocabulary between PayTrace and D365."""

from paybridge.model.money import Money, currency_exponent, to_decimal
from paybridge.model.transaction import (
    PaymentMethodType,
    Transaction,
    TransactionKind,
    TransactionStatus,
)

__all__ = [
    "Money",
    "PaymentMethodType",
    "Transaction",
    "TransactionKind",
    "TransactionStatus",
    "currency_exponent",
    "to_decimal",
]
