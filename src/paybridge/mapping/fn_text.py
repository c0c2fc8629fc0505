"""Text functions: concat and split of names, addresses and D365 segmented display values."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from paybridge.mapping.errors import MappingValueError
from paybridge.mapping.tables import COUNTRY_ALPHA2_TO_ALPHA3, COUNTRY_ALPHA3_TO_ALPHA2

_SUFFIXES = frozenset(
    {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "v", "phd", "md", "esq", "esq."}
)
_TITLES = frozenset({"mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss", "dr", "dr.", "prof", "prof."})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_UNESCAPED_DASH = re.compile(r"(?<!\\)-")
_NON_DIGITS = re.compile(r"\D")


def text(value: Any) -> str | None:
    """A value as text: Decimals in plain notation, numbers as digits; objects are refused."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, int):
        return str(value)
    raise MappingValueError(f"cannot turn {type(value).__name__} into text")


def text_values(value: Any) -> dict[str, str]:
    """An object's entries as text, nulls left out (PayTrace's discretionary data, say).

    A nested object or list becomes its JSON text rather than a refusal: a merchant's odd field
    must not stop a payment from being posted.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingValueError(f"text_values needs an object, got {type(value).__name__}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, (dict, list)):
            out[str(key)] = json.dumps(item, sort_keys=True, default=str)
        else:
            out[str(key)] = str(text(item))
    return out


def _str_arg(value: Any, what: str) -> str:
    result = text(value)
    if result is None:
        raise MappingValueError(f"{what} is null")
    return result


def concat(*parts: Any) -> str:
    """All non-null parts as text, end to end (empty strings kept, nulls skipped)."""
    return "".join([p if type(p) is str else text(p) or "" for p in parts])


def join_nonempty(separator: Any, *parts: Any) -> str:
    """Trimmed, non-empty parts joined by ``separator``: ``join_nonempty(' ', first, last)``."""
    sep = separator if type(separator) is str else _str_arg(separator, "separator")
    pieces = [
        p.strip() if type(p) is str else (text(p) or "").strip() for p in parts if p is not None
    ]
    return sep.join([p for p in pieces if p])


def join_lines(*parts: Any) -> str:
    """Address lines into D365's one multi-line street field."""
    return join_nonempty("\n", *parts)


def line(value: Any, index: Any) -> str | None:
    """Line ``index`` (0-based) of a multi-line text, or null when there is no such line."""
    if value is None:
        return None
    if not isinstance(index, int) or isinstance(index, bool):
        raise MappingValueError("line index must be an integer")
    lines = [s.strip() for s in _LINE_BREAK.split(_str_arg(value, "text")) if s.strip()]
    return lines[index] if -len(lines) <= index < len(lines) else None


def split(value: Any, separator: Any) -> list[str] | None:
    if value is None:
        return None
    sep = _str_arg(separator, "separator")
    if not sep:
        raise MappingValueError("separator must not be empty")
    return [s.strip() for s in _str_arg(value, "text").split(sep)]


def split_name(value: Any) -> dict[str, str] | None:
    """``"Dr. Mary Ann Smith Jr."`` or ``"Smith, Mary Ann"`` -> first / middle / last.

    One word is a first name; titles are dropped; suffixes stay with the last name.
    """
    if value is None:
        return None
    full = " ".join(_str_arg(value, "name").split())
    if "," in full:
        last, _, rest = full.partition(",")
        given = rest.split()
        return _name(given[0] if given else "", " ".join(given[1:]), last.strip())
    words = [w for w in full.split(" ") if w]
    while words and words[0].lower() in _TITLES and len(words) > 1:
        words.pop(0)
    suffix: list[str] = []
    while len(words) > 2 and words[-1].lower().strip(",") in _SUFFIXES:
        suffix.insert(0, words.pop())
    if len(words) <= 1:
        return _name(words[0] if words else "", "", " ".join(suffix))
    return _name(words[0], " ".join(words[1:-1]), " ".join([words[-1], *suffix]))


def _name(first: str, middle: str, last: str) -> dict[str, str]:
    return {"first": first, "middle": middle, "last": last}


def truncate(value: Any, length: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise MappingValueError("truncate length must be a non-negative integer")
    return _str_arg(value, "text")[:length]


def upper(value: Any) -> str | None:
    return None if value is None else _str_arg(value, "text").upper()


def lower(value: Any) -> str | None:
    return None if value is None else _str_arg(value, "text").lower()


def trim(value: Any) -> str | None:
    return None if value is None else _str_arg(value, "text").strip()


def replace(value: Any, old: Any, new: Any) -> str | None:
    if value is None:
        return None
    return _str_arg(value, "text").replace(_str_arg(old, "old"), _str_arg(new, "new"))


def alnum(value: Any) -> str | None:
    """Letters and digits only (PayTrace Level 2 ``customer_reference_id`` allows nothing else)."""
    return None if value is None else re.sub(r"[^A-Za-z0-9]", "", _str_arg(value, "text"))


def escape_segment(value: Any) -> str | None:
    """A D365 display-value segment: a literal ``-`` becomes ``\\-`` (already escaped ones stay)."""
    if value is None:
        return None
    segment = value if type(value) is str else _str_arg(value, "text")
    if "-" not in segment:
        return segment
    if "\\-" not in segment:
        return segment.replace("-", "\\-")
    return _UNESCAPED_DASH.sub(r"\\-", segment)


def unescape_segment(value: Any) -> str | None:
    return None if value is None else _str_arg(value, "text").replace("\\-", "-")


def short_mask(value: Any) -> str | None:
    """``xxxxxxxxxxxx5439`` -> ``xxxx5439`` for readable journal text; null when no digits."""
    if value is None:
        return None
    masked = value if type(value) is str else _str_arg(value, "masked number")
    tail = masked[-4:]
    if len(tail) == 4 and tail.isdigit() and tail.isascii():
        return f"xxxx{tail}"  # the usual shape; no need to scan the whole string
    digits = _NON_DIGITS.sub("", masked)
    return f"xxxx{digits[-4:]}" if digits else None


def paytrace_batch(value: Any) -> str | None:
    """PayTrace ``status_code`` ``GB<n>`` (settled in batch n) -> ``n``; any other code -> null."""
    if value is None:
        return None
    code = (value if type(value) is str else _str_arg(value, "status code")).strip()
    digits = code[2:]
    return digits if code[:2].upper() == "GB" and digits.isdigit() else None


def country_alpha3(value: Any) -> str | None:
    """ISO 3166 alpha-2 (PayTrace ``US``) -> alpha-3 (D365 ``USA``)."""
    return _country(value, COUNTRY_ALPHA2_TO_ALPHA3, 2)


def country_alpha2(value: Any) -> str | None:
    """ISO 3166 alpha-3 (D365 ``USA``) -> alpha-2 (PayTrace ``US``)."""
    return _country(value, COUNTRY_ALPHA3_TO_ALPHA2, 3)


def _country(value: Any, table: dict[str, str], size: int) -> str | None:
    if value is None or value == "":
        return None
    code = _str_arg(value, "country").strip().upper()
    if len(code) != size:
        raise MappingValueError(f"not an ISO 3166 alpha-{size} country code: {value!r}")
    try:
        return table[code]
    except KeyError:
        raise MappingValueError(f"country {code!r} is not in the country table") from None
