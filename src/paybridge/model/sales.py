"""D365 sales documents in canonical form: the sales order and the posted invoice it was billed on."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from paybridge.model.money import Money
from paybridge.model.validators import optional_utc


class SalesOrder(BaseModel):
    """An order to be paid; ``customer_reference`` is the buyer's PO (PayTrace Level 2)."""

    model_config = ConfigDict(frozen=True)

    company: str
    order_number: str
    customer_account: str
    total: Money
    tax_total: Money | None = None
    customer_reference: str = ""
    status: str = ""
    payment_method_name: str = ""
    created_at: datetime | None = None
    custom_fields: dict[str, str] = Field(default_factory=dict)

    _utc = field_validator("created_at")(optional_utc)

    @model_validator(mode="after")
    def _same_currency(self) -> SalesOrder:
        if self.tax_total and self.tax_total.currency != self.total.currency:
            raise ValueError("tax_total must be in the order currency")
        return self


class Invoice(BaseModel):
    """A posted customer invoice; a calendar ``invoice_date`` because D365 dates have no time."""

    model_config = ConfigDict(frozen=True)

    company: str
    invoice_number: str
    invoice_date: date
    customer_account: str
    total: Money
    tax_total: Money | None = None
    order_number: str | None = None
    due_date: date | None = None
    customer_reference: str = ""
    custom_fields: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _same_currency(self) -> Invoice:
        if self.tax_total and self.tax_total.currency != self.total.currency:
            raise ValueError("tax_total must be in the invoice currency")
        return self
