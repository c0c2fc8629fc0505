"""Value encodings of F&O OData: input coercion per EDM type, JSON rendering, defaults and ETags.

Stored values are Python objects: ``str``, ``Decimal``, ``int``, aware-UTC ``datetime`` (date-only
AX fields are kept at 12:00:00Z, which is how F&O renders them) and enum member names.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from paybridge_sandbox.dynamics.schema import EntityDef, FieldDef, Schema

EMPTY_DATE = datetime(1900, 1, 1, 12, 0, tzinfo=UTC)
EMPTY_UTC = datetime(1900, 1, 1, 0, 0, tzinfo=UTC)
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ValueError_(Exception):
    """A property value the OData layer cannot convert (F&O answers 400 before business logic)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def default_value(entity: EntityDef, fdef: FieldDef, schema: Schema) -> Any:
    """What F&O's initValue gives a property nobody set."""
    if fdef.kind == "string":
        return ""
    if fdef.kind == "decimal":
        return Decimal(0)
    if fdef.kind == "int":
        return 0
    if fdef.kind == "date":
        return EMPTY_DATE
    if fdef.kind == "datetime":
        return EMPTY_UTC
    if fdef.kind == "guid":
        return EMPTY_GUID
    if fdef.kind == "enum":
        if fdef.name in entity.enum_defaults:
            return entity.enum_defaults[fdef.name]
        members = schema.enum_members(fdef.enum_name or "")
        return members[0] if members else None
    return None


def coerce(fdef: FieldDef, raw: Any, schema: Schema) -> Any:
    """Convert one JSON body value to its stored form, or raise ``ValueError_``."""
    if raw is None:
        if fdef.kind == "string" and fdef.nullable:
            return ""
        if fdef.kind == "enum" and fdef.nullable:
            return None
        raise ValueError_(
            f"A null value was found for the property named '{fdef.name}', which "
            f"has the expected type '{fdef.edm_type}[Nullable=False]'. The expected "
            f"type '{fdef.edm_type}[Nullable=False]' does not allow null values."
        )
    return _COERCERS[fdef.kind](fdef, raw, schema)


def _bad(fdef: FieldDef) -> ValueError_:
    return ValueError_(
        f"Cannot convert a primitive value to the expected type '{fdef.edm_type}'."
        " See the inner exception for more details."
    )


def _string(fdef: FieldDef, raw: Any, schema: Schema) -> Any:
    if not isinstance(raw, str):
        raise _bad(fdef)
    return raw


def _decimal(fdef: FieldDef, raw: Any, schema: Schema) -> Any:
    if isinstance(raw, bool):
        raise _bad(fdef)
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    if isinstance(raw, str):
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise _bad(fdef) from None
        if value.is_finite():
            return value
    raise _bad(fdef)


def _int(fdef: FieldDef, raw: Any, schema: Schema) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _bad(fdef)
    return raw


def _datetime(fdef: FieldDef, raw: Any, schema: Schema) -> Any:
    if not isinstance(raw, str):
        raise _bad(fdef)
    parsed = parse_datetime(raw, date_only=fdef.kind == "date")
    if parsed is None:
        raise ValueError_(
            f"Cannot convert the literal '{raw}' to the expected type '{fdef.edm_type}'."
        )
    return parsed


def parse_datetime(text: str, *, date_only: bool) -> datetime | None:
    """ISO 8601 with an offset, or a bare date; date-only fields keep the written date at noon."""
    try:
        if _DATE_ONLY.match(text):
            value = datetime.fromisoformat(text).replace(tzinfo=UTC)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        return None
    if date_only:
        return datetime(value.year, value.month, value.day, 12, tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def _enum(fdef: FieldDef, raw: Any, schema: Schema) -> Any:
    members = schema.enum_members(fdef.enum_name or "")
    if isinstance(raw, str) and raw in members:
        return raw
    raise ValueError_(f"The value '{raw}' is not a valid enumeration type constant.")


def _guid(fdef: FieldDef, raw: Any, schema: Schema) -> Any:
    if isinstance(raw, str) and re.fullmatch(
        r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", raw
    ):
        return raw.lower()
    raise _bad(fdef)


_COERCERS = {
    "string": _string,
    "decimal": _decimal,
    "int": _int,
    "date": _datetime,
    "datetime": _datetime,
    "enum": _enum,
    "guid": _guid,
    "binary": _string,
}


def fold(value: Any) -> Any:
    """Comparison form: SQL Server collation is case-insensitive; 1 and 1.00 are one number."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return Decimal(value).normalize()
    return value


def etag(rec_version: int, rec_id: int, sources: int) -> str:
    """``W/"<base64 of 'RecVersion,RecId;0,0...'>"`` — one pair per data source of the entity."""
    pairs = ";".join([f"{rec_version},{rec_id}"] + ["0,0"] * (sources - 1))
    return 'W/"' + base64.b64encode(f"'{pairs}'".encode()).decode() + '"'


def format_decimal(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_value(value: Any) -> Any:
    """A stored value in JSON-ready form (Decimal stays Decimal: ``dumps`` writes it as a number)."""
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


_encode_str = json.encoder.encode_basestring


def dumps(obj: Any) -> bytes:
    """JSON with Decimals as exact numbers (the stdlib encoder would need floats)."""
    out: list[str] = []
    _write(obj, out)
    return "".join(out).encode()


def _write(obj: Any, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(_encode_str(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, Decimal):
        out.append(format_decimal(obj))
    elif isinstance(obj, int):
        out.append(str(obj))
    elif isinstance(obj, datetime):
        out.append(_encode_str(format_datetime(obj)))
    elif isinstance(obj, dict):
        _write_dict(obj, out)
    elif isinstance(obj, list | tuple):
        _write_list(obj, out)
    else:
        raise TypeError(f"cannot serialise {type(obj).__name__}")


def _write_dict(obj: dict[str, Any], out: list[str]) -> None:
    out.append("{")
    first = True
    for key, value in obj.items():
        if not first:
            out.append(",")
        first = False
        out.append(_encode_str(key))
        out.append(":")
        _write(value, out)
    out.append("}")


def _write_list(obj: list[Any] | tuple[Any, ...], out: list[str]) -> None:
    out.append("[")
    for i, value in enumerate(obj):
        if i:
            out.append(",")
        _write(value, out)
    out.append("]")
