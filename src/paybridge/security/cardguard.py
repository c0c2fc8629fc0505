"""Card-data guard: finds and masks card numbers, CSCs, track data and secrets in text and JSON."""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from paybridge.security.cardscan import ScanBudget, TooDense, luhn_valid, pan_spans

__all__ = ["ScanBudget", "TooDense", "luhn_valid"]

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


def looks_like_api_key(text: str) -> bool:
    """True when ``text`` holds a PayBridge API key (``pb_<id>_<secret>``)."""
    return _API_KEY.search(text) is not None


@dataclass(frozen=True)
class CardFinding:
    """One piece of card data: where it is (JSON path, span in that string) and a safe form."""

    kind: Kind
    path: str
    start: int
    end: int
    masked: str


def mask_pan(digits: str) -> str:
    """PayTrace's own masked form: ``x`` for every digit but the last four."""
    return "x" * max(len(digits) - 4, 0) + digits[-4:]


# Cheap looks before a regex reads a whole text: CSC keys and track data are rare.
_KEY_STEMS = ("csc", "cvv", "cvc", "code", "swipe", "track")


def _track_spans(text: str) -> list[tuple[int, int]]:
    if "^" not in text and "=" not in text:
        return []
    return [m.span() for pattern in (_TRACK1, _TRACK2) for m in pattern.finditer(text)]


def _keyed_values(text: str) -> list[tuple[Kind, int, int]]:
    if ":" not in text and "=" not in text:
        return []
    lower = text.lower()
    if not any(stem in lower for stem in _KEY_STEMS):
        return []
    found: list[tuple[Kind, int, int]] = []
    for match in _KEY_VALUE.finditer(text):
        key = match.group("key").lower()
        if key in CSC_KEYS or key in TRACK_KEYS:
            found.append(("csc" if key in CSC_KEYS else "track", match.start("value"), match.end()))
    return found


def text_findings(text: str, path: str, budget: ScanBudget | None = None) -> list[CardFinding]:
    """Card numbers, track data and ``csc=...`` in one text (TooDense past ``budget``)."""
    tracks = _track_spans(text)
    findings = [CardFinding("track", path, s, e, REDACTED) for s, e in tracks]
    for start, end, digits in pan_spans(text, budget):
        if not any(s <= start < e for s, e in tracks):
            findings.append(CardFinding("pan", path, start, end, mask_pan(digits)))
    findings += [CardFinding(k, path, s, e, REDACTED) for k, s, e in _keyed_values(text)]
    return findings


_SAFE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass
class _Walk:
    """One walk over a JSON-like value: where it is, what it found, what it may still cost."""

    budget: ScanBudget
    nodes: int
    found: list[CardFinding] = field(default_factory=list)

    def visit(self) -> None:
        self.nodes -= 1
        if self.nodes < 0:
            raise TooDense(self.budget.limit)


def render_path(segments: tuple[tuple[str | int, int], ...]) -> str:
    """A JSON path that never repeats card data: unsafe keys are named by position (``[#3]``)."""
    parts = ["$"]
    for key, position in segments:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            parts.append(f".{key}" if _SAFE_KEY.fullmatch(key) else f"[#{position}]")
    path = "".join(parts)
    try:
        safe = len(path) <= 200 and not pan_spans(path)
    except TooDense:
        safe = False
    return path if safe else "$" + "".join(f"[#{position}]" for _, position in segments)


def _number_text(value: Any) -> str | None:
    """The digits a number stands for, as a model would read it (4.012e15 is 4012000000000000)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value)) if 1e12 <= abs(value) < 1e20 else None
    return None


def _walk(value: Any, path: tuple[tuple[str | int, int], ...], walk: _Walk) -> None:
    walk.visit()
    if isinstance(value, Mapping):
        for position, (key, item) in enumerate(value.items()):
            child = (*path, (str(key), position))
            lower = str(key).lower()
            if (lower in CSC_KEYS or lower in TRACK_KEYS) and item not in (None, ""):
                kind: Kind = "csc" if lower in CSC_KEYS else "track"
                walk.found.append(CardFinding(kind, render_path(child), 0, 0, REDACTED))
                continue
            if pan_spans(str(key), walk.budget):  # a key can carry a card number too
                walk.found.append(CardFinding("pan", render_path(child), 0, 0, REDACTED))
            _walk(item, child, walk)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, (*path, (index, index)), walk)
    elif isinstance(value, str):
        found = text_findings(value, "", walk.budget)
        if found:
            where = render_path(path)
            walk.found.extend(CardFinding(f.kind, where, f.start, f.end, f.masked) for f in found)
    elif (digits := _number_text(value)) is not None:
        for start, end, number in pan_spans(digits, walk.budget):
            walk.found.append(CardFinding("pan", render_path(path), start, end, mask_pan(number)))


def find_card_numbers(
    value: Any, budget: ScanBudget | None = None, max_nodes: int = 1_000_000
) -> list[CardFinding]:
    """Every card number (Luhn-valid, 13-19 digits), CSC and track datum in a value or text.

    Keys are read too. Raises TooDense when the value costs more than ``budget`` or has more
    than ``max_nodes`` nodes: such a value is refused, never passed unread.
    """
    walk = _Walk(budget if budget is not None else ScanBudget(), max_nodes)
    _walk(value, (), walk)
    return walk.found


_HEX_WORD = re.compile(r"[0-9A-Fa-f]{32,}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


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


_ANY_DIGIT = re.compile(r"\d")
_TOKEN = re.compile(r"\S+")
_ESCAPED = re.compile(r"%[0-9A-Fa-f]{2}|\\[uUx]")


_BACKSLASH_ESCAPE = re.compile(
    r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|x[0-9A-Fa-f]{2}|[ntrbf/\\\"'])"
)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _escape(match: re.Match[str]) -> str:
    code = match.group()[1:]
    if code[0] in "uUx":
        return chr(int(code[1:], 16)) if int(code[1:], 16) < 0x110000 else " "
    return _SIMPLE_ESCAPES.get(code, code)


def _decoded(token: str) -> str:
    """What a token says once percent-encoding and backslash escapes are undone, NFKC-folded."""
    text = unquote(token) if "%" in token else token
    if "\\" in text:
        text = _BACKSLASH_ESCAPE.sub(_escape, text)
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return unicodedata.normalize("NFKC", text)


def json_unescaped(text: str) -> str:
    """A *valid* JSON text with its string escapes undone, at C speed (``\\u0034`` is ``4``).

    Valid JSON has no escape Python's ``unicode_escape`` codec does not know but ``\\/``.
    """
    if "\\" not in text:
        return text
    raw = text.replace("\\/", "\\u002f").encode("latin-1", "backslashreplace")
    decoded = raw.decode("unicode_escape")
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _mask_pans(text: str) -> str:
    try:
        spans = pan_spans(text)
    except TooDense:  # too many long digit runs to tell apart: none of their digits is kept
        return _ANY_DIGIT.sub("x", text)
    if not spans:
        return text
    parts: list[str] = []
    cursor = 0
    for start, end, digits in spans:
        parts += [text[cursor:start], mask_pan(digits)]
        cursor = end
    return "".join([*parts, text[cursor:]])


def _mask_encoded(text: str) -> str:
    """Tokens that hide a card number behind %-encoding, escapes or compatibility digits."""
    if text.isascii() and not _ESCAPED.search(text):
        return text

    def token(match: re.Match[str]) -> str:
        word = match.group()
        try:
            return REDACTED if pan_spans(_decoded(word)) else word
        except TooDense:
            return REDACTED

    text = _TOKEN.sub(token, text)
    try:
        hidden = bool(pan_spans(_decoded(text)))
    except TooDense:
        hidden = True
    # Still there across tokens (e.g. "4111%20 1111 ..."): the whole text goes.
    return f"{REDACTED} (card data)" if hidden else text


# Every one of the track, bearer, key=value and API-key patterns needs one of these to match;
# masking a card number adds none of them. Most texts (an amount, an id, a name) have none.
_PATTERN_HINT = re.compile(r"[:=^]|bearer|pb_", re.IGNORECASE)


def redact_text(text: str) -> str:
    """``text`` with card numbers masked and CSC, track data, tokens and passwords removed."""
    if _PATTERN_HINT.search(text) is None:
        return _mask_encoded(_mask_pans(text))
    text = _TRACK1.sub(REDACTED, text)
    text = _TRACK2.sub(REDACTED, text)
    text = _mask_encoded(_mask_pans(text))
    # Bearer first: `Authorization: Bearer <token>` would otherwise lose only the word "Bearer".
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KEY_VALUE.sub(lambda m: f"{m['head']}{m['q']}{REDACTED}{m['q']}", text)
    return _API_KEY.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


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
