"""Output checks per declared field type: what may land in a mapped record, and in what form."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from paybridge.mapping.errors import MappingValueError
from paybridge.mapping.fn_money import decimal
from paybridge.mapping.fn_text import text

Coercer = Callable[[Any], Any]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def scalar(value: Any) -> Any:
    """The default for fields without ``type``: one JSON value, and never a float."""
    if type(value) is str or isinstance(value, (str, int, Decimal)):  # bool is an int
        return value
    if isinstance(value, float):
        raise MappingValueError("a float is not allowed (amounts are Decimal)")
    raise MappingValueError(f"expected a single value, got {_kind(value)}")


def as_string(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise MappingValueError(f"expected text, got {_kind(value)}")
    return text(value) or ""


def as_decimal(value: Any) -> Decimal:
    result = decimal(value)
    assert result is not None  # callers never pass null
    return result


def as_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise MappingValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, (Decimal, str)):
        number = decimal(value)
        if number is not None and number == number.to_integral_value():
            return int(number)
    raise MappingValueError(f"expected an integer, got {value!r}"[:120])


def as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise MappingValueError(f"expected true or false, got {_kind(value)}")


def _of(kind: type, label: str) -> Coercer:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise MappingValueError(f"expected {label}, got {_kind(value)}")
        return value

    return check


COERCERS: dict[str | None, Coercer | None] = {
    None: scalar,
    "string": as_string,
    "decimal": as_decimal,
    "integer": as_integer,
    "boolean": as_boolean,
    "date": _of(str, "a date string"),
    "datetime": _of(str, "a date-time string"),
    "object": _of(dict, "an object"),
    "list": _of(list, "a list"),
    "any": None,
}
