"""``orders:`` settings: which D365 sales orders PayTrace authorizes, and the policy around it."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator

from paybridge.config import Section

# Days an authorization holds, by card brand (card-network rules; merchants' processors vary).
DEFAULT_AUTHORIZATION_DAYS = {"VISA": 7, "MASTERCARD": 7, "AMEX": 7, "DISCOVER": 10, "other": 7}


class OrdersSettings(Section):
    """Authorize at order, capture at invoicing, refunds from credit notes."""

    # Watch D365 card orders (job ``orders.watch``); refund approvals work either way.
    enabled: bool = False
    # How often the watch reads D365 (new orders, watched orders, credit notes).
    interval_seconds: float = Field(default=60.0, gt=0)
    # D365 customer payment methods (CustomerPaymentMethodName) that mean "card on file".
    payment_methods: list[str] = Field(default_factory=lambda: ["CREDITCARD"], min_length=1)
    # Orders created this long before the watch's cursor are read again (late commits).
    overlap_seconds: float = Field(default=600.0, ge=0)
    # A first run reads orders created this many days back.
    first_lookback_days: float = Field(default=2.0, gt=0)
    # The authorization asks for the order total plus this much (freight, price changes).
    over_authorization_percent: Decimal = Field(default=Decimal(0), ge=0, le=30)
    # How long an authorization holds per card brand (VISA, MASTERCARD, AMEX, DISCOVER, other).
    authorization_days: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_AUTHORIZATION_DAYS)
    )
    # A new authorization is placed this long before the live one expires (the old one voided).
    reauthorize_before_days: float = Field(default=1.0, ge=0)
    # SalesOrderHeadersV2 field that gets the live PayTrace authorization id (an extension field
    # in a real F&O; None: not written).
    authorization_field: str | None = None
    # SalesOrderHeadersV2 field that gets the reason in words when the order is put on hold
    # (a decline, no card on file, an invoice above the authorization; None: not written).
    hold_reason_field: str | None = None
    # The standard hold: IsSalesProcessingStopped=Yes on a decline (a person releases it with a
    # new card on file, and PayBridge authorizes again).
    hold_field: str = "IsSalesProcessingStopped"
    # The credit note's SalesInvoiceHeadersV2 field that names the original sales order: the
    # order itself (F&O's "Credit note" on the order) or e.g. CustomersOrderReference for a
    # separate return order.
    credit_note_order_field: str = "SalesOrderNumber"
    # Refunds above this amount wait for an operator's approval (maker-checker); at or below it
    # they go out at once.
    refund_approval_above: Decimal = Field(default=Decimal("500"), ge=0)
    # A refund of a capture PayTrace has not settled yet (error 817) is tried again this much later.
    unsettled_retry_seconds: float = Field(default=3600.0, gt=0)
    # Tracked orders read per D365 request (one OR-filter each).
    chunk_size: int = Field(default=25, ge=1, le=100)
    # Orders a worker handles side by side (each order's facts still run one after another).
    concurrency: int = Field(default=8, ge=1, le=64)

    @field_validator("authorization_days")
    @classmethod
    def _days(cls, value: dict[str, int]) -> dict[str, int]:
        cleaned = {k.upper() if k != "other" else k: v for k, v in value.items()}
        if "other" not in cleaned:
            raise ValueError("orders.authorization_days needs an 'other' entry")
        if any(not 1 <= days <= 30 for days in cleaned.values()):
            raise ValueError("orders.authorization_days: each brand holds 1 to 30 days")
        return cleaned

    def days_for(self, brand: str) -> int:
        return self.authorization_days.get(brand.upper(), self.authorization_days["other"])
