"""Card-data guard: finds and masks card numbers, CSCs, track data and secrets in text and JSON."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

REDACTED = "[REDACTED]"

# Keys whose value is a card security code: card data, always redacted.
CSC_KEYS = frozenset({"csc", "cvv", "cvv2", "cvc", "cvc2", "card_code", "security_code"})
# Keys that hold magnetic-stripe data.
TRACK_KEYS = frozenset(
    {"swipe", "encrypted_swipe", "track", "track1", "track2", "track_data", "track1_data"}
)
# Credentials and key material: not card data, but never logged either.
SECRET_KEYS = frozenset(
    {
        "password", "access_token", "refresh_token", "token", "id_token", "authorization",
        "integrator_id", "client_secret", "enc_key", "hpf_token", "encrypted_number",
        "encrypted_csc", "api_key", "secret",
    }
)  # fmt: skip
# A mistyped card number is still a card number, so these are masked even when not Luhn-valid.
NUMBER_KEYS = frozenset(
    {"number", "card_number", "credit_card_number", "account_number", "pan", "cc_number"}
)

# Digit groups joined by one space or dash; a candidate PAN is a window of consecutive groups.
# A card number stands apart from letters: digits glued to letters belong to an identifier.
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d+(?:[ -]\d+)*(?![0-9A-Za-z])")
# Request ids and the like: their digit groups, dashes between, can pass Luhn by chance.
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_DIGITS = re.compile(r"\d+")
_TRACK1 = re.compile(r"%?B\d{12,19}\^[^^\n]{0,26}\^\d{4}[^?\s]*\??")
_TRACK2 = re.compile(r";?\d{12,19}=\d{4}[^?\s]*\??")
_KEY_NAMES = "|".join(sorted(CSC_KEYS | SECRET_KEYS | TRACK_KEYS, key=len, reverse=True))
# `"csc": "999"`, `csc=999`, `password: hunter2` inside free text or a non-JSON body.
_KEY_VALUE = re.compile(
    rf"""(?P<head>["']?\b(?P<key>{_KEY_NAMES})\b["']?\s*[:=]\s*)(?P<q>["']?)"""
    r"""(?P<value>[^"'&,\s}\]]+)(?P=q)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/:=-]+", re.IGNORECASE)
# A PayBridge API key anywhere (a query string, a path): its public id stays, the secret goes.
_API_KEY = re.compile(r"\b(pb_[0-9a-f]{12}_)[A-Za-z0-9_-]{20,}")

Kind = Literal["pan", "csc", "track"]


@dataclass(frozen=True)
class CardFinding:
    """One piece of card data: where it is (JSON path, span in that string) and a safe form."""

    kind: Kind
    path: str
    start: int
    end: int
    masked: str


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mask_pan(digits: str) -> str:
    """PayTrace's own masked form: ``x`` for every digit but the last four."""
    return "x" * max(len(digits) - 4, 0) + digits[-4:]


def _card_group(span: tuple[int, int]) -> bool:
    return span[1] - span[0] <= 6


def _longest_window(
    chunk: str, groups: list[tuple[int, int]], first: int
) -> tuple[int, str] | None:
    """The longest Luhn-valid 13-19 digit window of groups starting at ``first``."""
    digits = ""
    best: tuple[int, str] | None = None
    for last in range(first, len(groups)):
        start, end = groups[last]
        # Cards are printed in groups of at most 6 digits; longer groups are separate numbers.
        if last > first and not (_card_group(groups[first]) and _card_group(groups[last])):
            break
        digits += chunk[start:end]
        if len(digits) > 19:
            break
        if len(digits) >= 13 and luhn_valid(digits):
            best = (last, digits)
    return best


def _pan_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, digits) of each Luhn-valid 13-19 digit card number in ``text``."""
    uuids = [m.span() for m in _UUID.finditer(text)] if "-" in text else []
    for run in _DIGIT_RUN.finditer(text):
        if any(start <= run.start() and run.end() <= end for start, end in uuids):
            continue
        chunk = run.group()
        groups = [m.span() for m in _DIGITS.finditer(chunk)]
        first = 0
        while first < len(groups):
            best = _longest_window(chunk, groups, first)
            if best is None:
                first += 1
                continue
            last, digits = best
            yield run.start() + groups[first][0], run.start() + groups[last][1], digits
            first = last + 1


def _text_findings(text: str, path: str) -> list[CardFinding]:
    findings: list[CardFinding] = []
    tracks: list[tuple[int, int]] = []
    for pattern in (_TRACK1, _TRACK2):
        for match in pattern.finditer(text):
            tracks.append(match.span())
            findings.append(CardFinding("track", path, match.start(), match.end(), REDACTED))
    for start, end, digits in _pan_spans(text):
        if not any(s <= start < e for s, e in tracks):
            findings.append(CardFinding("pan", path, start, end, mask_pan(digits)))
    for match in _KEY_VALUE.finditer(text):
        key = match.group("key").lower()
        if key in CSC_KEYS or key in TRACK_KEYS:
            kind: Kind = "csc" if key in CSC_KEYS else "track"
            findings.append(CardFinding(kind, path, match.start("value"), match.end(), REDACTED))
    return findings


def _walk(value: Any, path: str, out: list[CardFinding]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}"
            lower = str(key).lower()
            if (lower in CSC_KEYS or lower in TRACK_KEYS) and item not in (None, ""):
                kind: Kind = "csc" if lower in CSC_KEYS else "track"
                out.append(CardFinding(kind, child, 0, len(str(item)), REDACTED))
                continue
            _walk(item, child, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", out)
    elif isinstance(value, str):
        out.extend(_text_findings(value, path))
    elif isinstance(value, int) and not isinstance(value, bool):
        out.extend(_text_findings(str(value), path))


def find_card_numbers(value: Any) -> list[CardFinding]:
    """Every card number (Luhn-valid, 13-19 digits), CSC and track datum in a value or text."""
    found: list[CardFinding] = []
    _walk(value, "$", found)
    return found


_HEX_WORD = re.compile(r"[0-9A-Fa-f]{32,}")


# How a card number looks when it is written down: 13-19 digits in one piece, or in the groups
# cards are printed in (4-4-4-4 up to 4-4-4-4-3, Amex 4-6-5, Diners 4-6-4), standing alone.
_CARD_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])(?<!\d[ -])"
    r"(\d{13,19}|\d{4}(?:([ -])\d{4}){2}\2\d{4}(?:\2\d{1,3})?|\d{4}([ -])\d{6}\3\d{4,5})"
    r"(?![ -]?\d)(?![A-Za-z])"
)


def card_numbers_in_text(text: str) -> list[str]:
    """Card numbers in stored raw text (a database file, a log), each with 20 characters around it.

    Stricter than ``find_card_numbers``, which guards what comes in: stored bytes butt unrelated
    digits together (a SQLite record puts a counter next to a timestamp), so only digits shaped
    like a written card number count here, and never inside a hash or a UUID.
    """
    skip = [m.span() for m in _HEX_WORD.finditer(text)] + [m.span() for m in _UUID.finditer(text)]
    found = []
    for match in _CARD_SHAPE.finditer(text):
        start, end = match.span(1)
        if any(s <= start and end <= e for s, e in skip):
            continue
        if luhn_valid(re.sub(r"[ -]", "", match.group(1))):
            found.append(text[max(0, start - 20) : end + 20])
    return found


def redact_text(text: str) -> str:
    """``text`` with card numbers masked and CSC, track data, tokens and passwords removed."""
    text = _TRACK1.sub(REDACTED, text)
    text = _TRACK2.sub(REDACTED, text)
    spans = list(_pan_spans(text))
    if spans:
        parts: list[str] = []
        cursor = 0
        for start, end, digits in spans:
            parts.append(text[cursor:start])
            parts.append(mask_pan(digits))
            cursor = end
        parts.append(text[cursor:])
        text = "".join(parts)
    text = _KEY_VALUE.sub(lambda m: f"{m['head']}{m['q']}{REDACTED}{m['q']}", text)
    text = _API_KEY.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _mask_number_field(item: Any) -> Any:
    digits = "".join(ch for ch in str(item) if ch.isdigit())
    if isinstance(item, bool) or len(digits) < 5:
        return item
    return mask_pan(digits)


def redact(value: Any) -> Any:
    """A redacted deep copy of a JSON-like value (or a redacted string)."""
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            lower = str(key).lower()
            if lower in CSC_KEYS or lower in TRACK_KEYS or lower in SECRET_KEYS:
                result[key] = item if item in (None, "") else REDACTED
            elif lower in NUMBER_KEYS and isinstance(item, str | int):
                result[key] = _mask_number_field(item)
            else:
                result[key] = redact(item)
        return result
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and 13 <= len(str(abs(value))) <= 19:
        text = str(value)
        return mask_pan(text) if luhn_valid(text.lstrip("-")) else value
    return value


class RedactingFilter(logging.Filter):
    """Rewrites every log record so that no card data or secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
