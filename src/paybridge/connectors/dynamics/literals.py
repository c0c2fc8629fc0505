"""OData literals as F&O reads them: strings, numbers, dates, enums, entity keys, display values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from urllib.parse import quote
from uuid import UUID

ENTITY_NAMESPACE = "Microsoft.Dynamics.DataEntities"

# F&O renders a date-only value as noon UTC so it reads as the same day in every time zone.
DATE_ONLY_TIME = time(12, 0, 0)
# F&O's "no date" value; it means empty, not 1 January 1900.
EMPTY_DATE = date(1900, 1, 1)

# Key literals are percent-encoded as a whole, except what OData needs to read the key back.
_KEY_SAFE = "',=:"


@dataclass(frozen=True)
class EnumValue:
    """An enum member, rendered ``Microsoft.Dynamics.DataEntities.NoYes'Yes'`` in filters and keys."""

    enum: str
    member: str

    def render(self) -> str:
        return f"{ENTITY_NAMESPACE}.{self.enum}'{self.member.replace(chr(39), chr(39) * 2)}'"


def render_string(value: str) -> str:
    """A quoted OData string: the embedded quote doubled, everything else kept (spaces count)."""
    return "'" + value.replace("'", "''") + "'"


def render_decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"OData has no literal for {value}")
    return format(value, "f")


def render_datetime(value: datetime) -> str:
    """An aware datetime as unquoted ISO 8601 in UTC, ``2026-07-23T08:58:53Z``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware (UTC) datetime")
    utc = value.astimezone(UTC)
    spec = "%Y-%m-%dT%H:%M:%S.%f" if utc.microsecond else "%Y-%m-%dT%H:%M:%S"
    return utc.strftime(spec) + "Z"


def render_date(value: date) -> str:
    """A date the way F&O stores it: noon UTC, unquoted."""
    return render_datetime(datetime.combine(value, DATE_ONLY_TIME, tzinfo=UTC))


def render_literal(value: object) -> str:
    """The OData literal for ``value``; floats are refused because they cannot hold money exactly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, EnumValue):
        return value.render()
    if isinstance(value, str):
        return render_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return render_decimal(value)
    if isinstance(value, datetime):
        return render_datetime(value)
    if isinstance(value, date):
        return render_date(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, float):
        raise TypeError("floats are not accepted in OData literals; use Decimal")
    raise TypeError(f"no OData literal for {type(value).__name__}")


def render_key(key: Mapping[str, object]) -> str:
    """``{"dataAreaId": "usmf", "LineNumber": Decimal(1)}`` -> ``dataAreaId='usmf',LineNumber=1``."""
    if not key:
        raise ValueError("an entity key needs at least one field")
    return ",".join(f"{name}={render_literal(value)}" for name, value in key.items())


def key_path(entity_set: str, key: Mapping[str, object]) -> str:
    """The URL path segment ``Set(k='v',...)`` with the key percent-encoded (spaces as %20)."""
    return f"{entity_set}({quote(render_key(key), safe=_KEY_SAFE)})"


_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


def escape_display_value(segment: str, delimiter: str = "-") -> str:
    """One segment of a financial display value, with the dimension delimiter backslash-escaped.

    Customer ``DAT-000011`` is written and read back as ``DAT\\-000011``.
    """
    return segment.replace("\\", "\\\\").replace(delimiter, "\\" + delimiter)


def unescape_display_value(value: str) -> str:
    """The plain value behind an escaped display value: ``DAT\\-000011`` -> ``DAT-000011``."""
    return _UNESCAPE.sub(lambda m: m.group(1), value)


def parse_edm_date(value: object) -> date | None:
    """A date-only property (``2026-07-15T12:00:00Z``) as a ``date``; F&O's empty date as None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str):
        day = datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    else:
        raise TypeError(f"not a date: {value!r}")
    return None if day == EMPTY_DATE else day


def parse_edm_datetime(value: object) -> datetime | None:
    """A UTC date-time property as an aware datetime; F&O's empty date as None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise TypeError(f"not a date-time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return None if parsed.date() == EMPTY_DATE else parsed
