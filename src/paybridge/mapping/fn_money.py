"""Money functions: Decimal only, rounded by the currency's ISO 4217 exponent; floats refused."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from paybridge.mapping.errors import MappingValueError
from paybridge.model import currency_exponent, to_decimal


def decimal(value: Any) -> Decimal | None:
    """A Decimal from a string, int or Decimal; null stays null; floats and booleans are refused."""
    if value is None:
        return None
    kind = type(value)
    if kind is str or kind is int or kind is Decimal:
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise MappingValueError(f"not an amount: {value!r}"[:120]) from None
        if result.is_finite():
            return result
        raise MappingValueError(f"not a finite amount: {value!r}")
    try:
        return to_decimal(value)
    except (TypeError, ValueError) as exc:
        raise MappingValueError(str(exc)) from exc


@lru_cache(maxsize=256)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(_currency_code(currency)))


def _currency(value: Any) -> str:
    if type(value) is not str:
        raise MappingValueError(f"not an ISO 4217 currency code: {value!r}"[:120])
    return _currency_code(value)


@lru_cache(maxsize=256)
def _currency_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise MappingValueError(f"not an ISO 4217 currency code: {value!r}"[:120])
    return code


def round_money(amount: Any, currency: Any) -> Decimal | None:
    """Round to the currency's minor unit (JPY 0, USD 2, KWD 3 places), banker's rounding."""
    value = decimal(amount)
    if value is None:
        return None
    quantum = _quantum(currency) if type(currency) is str else _quantum(_currency(currency))
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN)


def money_string(amount: Any, currency: Any) -> str | None:
    """The rounded amount as a plain string (``"12.30"``): PayTrace takes amounts this way."""
    value = round_money(amount, currency)
    return None if value is None else f"{value:f}"


def negate(amount: Any) -> Decimal | None:
    value = decimal(amount)
    return None if value is None else -value


def abs_amount(amount: Any) -> Decimal | None:
    value = decimal(amount)
    return None if value is None else abs(value)


def is_negative(amount: Any) -> bool | None:
    value = decimal(amount)
    return None if value is None else value < 0


def add(left: Any, right: Any) -> Decimal | None:
    a, b = decimal(left), decimal(right)
    return None if a is None or b is None else a + b


def subtract(left: Any, right: Any) -> Decimal | None:
    a, b = decimal(left), decimal(right)
    return None if a is None or b is None else a - b


def exponent(currency: Any) -> int:
    return currency_exponent(_currency(currency))
