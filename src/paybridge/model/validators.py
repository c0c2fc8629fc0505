"""Field rules shared by the canonical models: aware UTC datetimes, ISO codes, masked card numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_MASK_CHARS = frozenset("xX*•#")
_MAX_VISIBLE_DIGITS = 10  # PCI DSS allows at most the first six and last four digits


def to_utc(value: datetime) -> datetime:
    """Refuse naive datetimes; normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (UTC inside PayBridge)")
    return value.astimezone(UTC)


def optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


def iso_currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError("currency must be a three-letter ISO 4217 code")
    return code


def iso_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2, upper case; empty means unknown."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError("country must be an ISO 3166-1 alpha-2 code such as 'US'")
    return code


def masked_number(value: str) -> str:
    """Accept only a masked card or account number: never a full PAN."""
    digits = re.sub(r"\D", "", value)
    if not any(ch in _MASK_CHARS for ch in value) or len(digits) > _MAX_VISIBLE_DIGITS:
        # The message must not echo the value: it may be a full card number.
        raise ValueError("only masked numbers (e.g. 'xxxxxxxxxxxx5439') are allowed")
    return value
