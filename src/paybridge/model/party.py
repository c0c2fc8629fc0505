"""Customers, their addresses and their stored payment methods (token and masked number only)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from paybridge.model.transaction import PaymentMethodType
from paybridge.model.validators import iso_country, iso_currency, masked_number


class Address(BaseModel):
    """A postal address; ``street_lines`` keeps line breaks that PayTrace and D365 split differently."""

    model_config = ConfigDict(frozen=True)

    name: str = ""
    street_lines: tuple[str, ...] = ()
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str | None = None

    _country = field_validator("country")(iso_country)


class PaymentMethod(BaseModel):
    """A stored means of payment: a gateway token plus what may be shown, never the number itself."""

    model_config = ConfigDict(frozen=True)

    type: PaymentMethodType = PaymentMethodType.CARD
    token: str = Field(min_length=1)
    masked_number: str | None = None
    brand: str = ""
    expiration_month: int | None = Field(default=None, ge=1, le=12)
    expiration_year: int | None = None

    @field_validator("masked_number")
    @classmethod
    def _masked(cls, value: str | None) -> str | None:
        return None if value is None else masked_number(value)


class PartyType(StrEnum):
    ORGANIZATION = "organization"
    PERSON = "person"


class Customer(BaseModel):
    """One customer known to both systems: D365 account and PayTrace vault id side by side."""

    model_config = ConfigDict(frozen=True)

    account: str | None = None
    company: str | None = None
    paytrace_customer_id: str | None = None
    party_type: PartyType = PartyType.ORGANIZATION
    name: str = ""
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    currency: str | None = None
    customer_group: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    payment_methods: tuple[PaymentMethod, ...] = ()
    custom_fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else iso_currency(value)
