"""Wire types shared by PayTrace requests and responses: amounts, US dates, addresses, cards."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SecretStr,
)

from paybridge.model import to_decimal

CENT = Decimal("0.01")


def _parse_amount(value: Any) -> Decimal:
    amount = to_decimal(value)
    if amount < 0:
        raise ValueError("PayTrace amounts are never negative")
    if amount != amount.quantize(CENT):
        raise ValueError(f"{amount} has more than two decimal places; round it before sending")
    return amount


def _amount_text(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


def _wire_decimal(value: Any) -> Decimal | None:
    """Amounts as PayTrace answers them: number, string, or empty for none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_decimal(value)


def _us_date(value: date) -> str:
    return value.strftime("%m/%d/%Y")


def _reveal(value: SecretStr) -> str:
    return value.get_secret_value()


# A request amount: Decimal/int/str in (never float), at most 2 places, sent as "12.30".
Amount = Annotated[
    Decimal, BeforeValidator(_parse_amount), PlainSerializer(_amount_text, return_type=str)
]
# A response amount: tolerant of numbers, strings and blanks.
WireDecimal = Annotated[Decimal | None, BeforeValidator(_wire_decimal)]
# A request date, sent as MM/DD/YYYY.
UsDate = Annotated[date, PlainSerializer(_us_date, return_type=str)]
# Card data: hidden from repr/str and python dumps; revealed only in the JSON sent to PayTrace.
CardSecret = Annotated[SecretStr, PlainSerializer(_reveal, return_type=str, when_used="json")]


class PayTraceRequest(BaseModel):
    """Base of every request body; unknown fields are refused so that typos fail early."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PayTraceResponse(BaseModel):
    """The v1 envelope (spec §3.1); unknown fields are kept, since the API adds them freely."""

    model_config = ConfigDict(extra="allow")

    success: bool
    response_code: int
    status_message: str = ""


class Address(BaseModel):
    """billing_address / shipping_address (spec §5, 50 characters each in legacy docs)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    street_address: str | None = None
    street_address2: str | None = None
    city: str | None = None
    county: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class CreditCard(PayTraceRequest):
    """A card as keyed in; the number is never shown by repr or logs."""

    number: CardSecret
    expiration_month: str | int
    expiration_year: str | int


class EncryptedCreditCard(PayTraceRequest):
    """A card encrypted in the browser with PayTrace's E2EE script (spec §9)."""

    encrypted_number: CardSecret
    expiration_month: str | int
    expiration_year: str | int


class CheckAccount(PayTraceRequest):
    """A US bank account for ACH (spec §5.14)."""

    account_number: CardSecret
    routing_number: str


class MaskedCard(BaseModel):
    """The card on an export record: masked number and expiry only."""

    model_config = ConfigDict(extra="allow")

    masked_number: str = ""
    expiration_month: int | str | None = None
    expiration_year: int | str | None = None
