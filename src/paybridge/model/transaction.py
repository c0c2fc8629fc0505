"""A payment gateway transaction in canonical form: what happened, to whom, for how much."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from paybridge.keys import account_transaction, paytrace_fact
from paybridge.model.money import Money


class TransactionKind(StrEnum):
    """The state of a PayTrace transaction that became a fact (part of its deterministic key)."""

    SALE = "sale"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"
    SETTLEMENT = "settlement"
    DECLINE = "decline"
    # An ACH debit the customer's bank sent back (a NACHA R-code): reverses what was posted.
    RETURN = "return"
    # Not a PayTrace state of its own: the gap PayBridge posts when a transaction settles for
    # another amount than D365 holds (PayTrace's adjust of an unsettled sale).
    ADJUST = "adjust"


class TransactionStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    PENDING_SETTLEMENT = "pending_settlement"
    AUTHORIZED = "authorized"
    VOIDED = "voided"
    SETTLED = "settled"
    RETURNED = "returned"


class PaymentMethodType(StrEnum):
    CARD = "card"
    ACH = "ach"


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError("datetimes must be timezone-aware (UTC inside PayBridge)")
    return value


class Transaction(BaseModel):
    """One fact about a gateway transaction; ``key`` is its exactly-once identity."""

    model_config = ConfigDict(frozen=True)

    transaction_id: str
    kind: TransactionKind
    status: TransactionStatus
    amount: Money
    occurred_at: datetime
    customer_id: str | None = None
    # The D365 customer ("company/account") when PayBridge knows it from the charge itself (a
    # pay-by-link payment by a card typed into PayTrace Protect, not a vault profile).
    customer_account: str | None = None
    invoice_id: str | None = None
    order_id: str | None = None
    # PayTrace's Level 2 customer reference (a PO number, 17 characters at most).
    customer_reference_id: str | None = None
    description: str = ""
    response_code: int | None = None
    approval_code: str = ""
    masked_card: str | None = None
    payment_method_type: PaymentMethodType = PaymentMethodType.CARD
    settled_at: datetime | None = None
    batch_number: str | None = None
    discretionary_data: dict[str, str] = Field(default_factory=dict)
    # What the processor said of the card holder (risk signals for insight's screen; never card
    # data): AVS and CSC results as PayTrace words them, the IP the request came from, and the
    # billing address's country (2 letters).
    avs_response: str = ""
    csc_response: str = ""
    client_ip: str = ""
    billing_country: str = ""
    # The PayTrace merchant account (``paytrace.accounts`` name) the transaction belongs to;
    # empty: the main account. Part of the key: two accounts may hand out one number.
    account: str = ""

    _utc = field_validator("occurred_at", "settled_at")(_aware_utc)

    @property
    def key(self) -> str:
        return paytrace_fact(self.transaction_id, self.kind.value, self.account)

    @property
    def ref(self) -> str:
        """The transaction in PayBridge's keys and cross-references (``keys.account_transaction``)."""
        return account_transaction(self.transaction_id, self.account)
