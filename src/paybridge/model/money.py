"""Money: a Decimal amount with its ISO 4217 currency, never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# ISO 4217 minor units for the currencies PayBridge meets; anything else defaults to 2.
_EXPONENTS: dict[str, int] = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "OMR": 3, "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip


def currency_exponent(currency: str) -> int:
    """Number of decimal places of ``currency`` (ISO 4217 minor unit)."""
    return _EXPONENTS.get(currency.upper(), 2)


def to_decimal(value: Any) -> Decimal:
    """Parse an amount from a string, int or Decimal; floats are refused by design."""
    if isinstance(value, (bool, float)):
        raise TypeError("amounts must be Decimal, int or str, never float")
    try:
        result = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


class Money(BaseModel):
    """An amount in one currency; arithmetic only between the same currency."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: str

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError("currency must be a three-letter ISO 4217 code")
        return code

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Decimal:
        return to_decimal(value)

    @classmethod
    def of(cls, amount: Any, currency: str) -> Money:
        return cls(amount=to_decimal(amount), currency=currency)

    def rounded(self) -> Money:
        """Rounded to the currency's minor unit, banker's rounding."""
        quantum = Decimal(1).scaleb(-currency_exponent(self.currency))
        return Money(
            amount=self.amount.quantize(quantum, rounding=ROUND_HALF_EVEN), currency=self.currency
        )

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{self.rounded().amount} {self.currency}"
