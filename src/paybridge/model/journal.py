"""A journal line in canonical form: one side of a payment or settlement as D365 will book it."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

from paybridge.model.money import Money


class JournalKind(StrEnum):
    CUSTOMER_PAYMENT = "customer_payment"
    GENERAL = "general"


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class AccountType(StrEnum):
    """The D365 LedgerJournalAcType members PayBridge books against."""

    CUSTOMER = "Cust"
    BANK = "Bank"
    LEDGER = "Ledger"


class JournalLine(BaseModel):
    """``amount`` is positive; ``side`` says whether it debits or credits ``account``."""

    model_config = ConfigDict(frozen=True)

    kind: JournalKind
    company: str
    transaction_date: date
    account_type: AccountType
    account: str
    offset_account_type: AccountType
    offset_account: str
    side: Side
    amount: Money
    text: str = ""
    payment_reference: str
    payment_id: str = ""
    marked_invoice: str | None = None
    is_prepayment: bool = False
    payment_method_name: str = ""
    journal_batch_number: str | None = None

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise ValueError("a journal line amount must be positive; use side for the sign")
        return value
