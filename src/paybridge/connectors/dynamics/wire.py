"""JSON as F&O speaks it: numbers in and out as Decimal (never float), dates at noon UTC."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from paybridge.connectors.dynamics.literals import EnumValue, render_date, render_datetime

# One decoder for every body: ``json.loads`` with hooks builds a new decoder per call.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)


def loads(text: str | bytes) -> Any:
    """Parse an F&O JSON body; every number becomes a Decimal so amounts stay exact."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    return _DECODER.decode(text.lstrip("\ufeff"))


def _encode(value: Any) -> str:
    # A small recursive encoder, because the json module cannot write a Decimal as a number.
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} to F&O")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        items = (f"{encode_basestring(str(k))}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return encode_basestring(_scalar_text(value))


def _scalar_text(value: object) -> str:
    if isinstance(value, EnumValue):
        return value.member
    if isinstance(value, datetime):
        return render_datetime(value)
    if isinstance(value, date):
        return render_date(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        raise TypeError("floats are not sent to F&O; use Decimal for amounts")
    raise TypeError(f"cannot send {type(value).__name__} to F&O")


def dumps(body: Any) -> str:
    """Serialise a request body; Decimals are written as exact JSON numbers."""
    return _encode(body)
