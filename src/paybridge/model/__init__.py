"""Canonical data model: pure, frozen, no I/O; the one vocabulary between PayTrace and D365."""

from paybridge.model.event import Event, SourceSystem
from paybridge.model.journal import AccountType, JournalKind, JournalLine, Side
from paybridge.model.money import Money, currency_exponent, to_decimal
from paybridge.model.party import Address, Customer, PartyType, PaymentMethod
from paybridge.model.sales import Invoice, SalesOrder
from paybridge.model.settlement import SettlementBatch
from paybridge.model.transaction import (
    PaymentMethodType,
    Transaction,
    TransactionKind,
    TransactionStatus,
)

__all__ = [
    "AccountType",
    "Address",
    "Customer",
    "Event",
    "Invoice",
    "JournalKind",
    "JournalLine",
    "Money",
    "PartyType",
    "PaymentMethod",
    "PaymentMethodType",
    "SalesOrder",
    "SettlementBatch",
    "Side",
    "SourceSystem",
    "Transaction",
    "TransactionKind",
    "TransactionStatus",
    "currency_exponent",
    "to_decimal",
]
