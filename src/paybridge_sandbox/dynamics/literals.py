"""OData URL literals and the tokenizer shared by key predicates and ``$filter``.

Rules as used against F&O: strings single-quoted with ``''`` for a quote, numbers unquoted,
DateTimeOffset unquoted ISO, enums ``Microsoft.Dynamics.DataEntities.NoYes'Yes'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from paybridge_sandbox.dynamics.errors import bad_request
from paybridge_sandbox.dynamics.values import parse_datetime

TokenKind = Literal[
    "string", "number", "datetime", "enum", "ident", "null", "bool", "guid", "punct", "end"
]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    value: Any
    text: str
    pos: int


@dataclass(frozen=True)
class EnumLiteral:
    enum_name: str
    member: str


_PATTERNS: list[tuple[TokenKind, re.Pattern[str]]] = [
    (
        "guid",
        re.compile(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
            r"(?![\w-])"
        ),
    ),
    (
        "datetime",
        re.compile(
            r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?"
            r"(?![\w:])"
        ),
    ),
    ("number", re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?[mMdDlLfF]?(?![\w.])")),
    ("enum", re.compile(r"([A-Za-z_][\w.]*)'((?:[^']|'')*)'")),
    ("ident", re.compile(r"[A-Za-z_$][\w]*(/[A-Za-z_$][\w]*)*")),
    ("punct", re.compile(r"[(),=]")),
]
_STRING = re.compile(r"'((?:[^']|'')*)'")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        token = _next_token(text, pos)
        tokens.append(token)
        pos += len(token.text)
    tokens.append(Token("end", None, "", len(text)))
    return tokens


def _next_token(text: str, pos: int) -> Token:
    m = _STRING.match(text, pos)
    if m:
        return Token("string", m.group(1).replace("''", "'"), m.group(0), pos)
    for kind, pattern in _PATTERNS:
        m = pattern.match(text, pos)
        if m:
            return _make(kind, m, pos)
    raise bad_request(f"Syntax error at position {pos} in '{text}'.")


def _make(kind: TokenKind, m: re.Match[str], pos: int) -> Token:
    raw = m.group(0)
    if kind == "number":
        return Token(kind, Decimal(raw.rstrip("mMdDlLfF")), raw, pos)
    if kind == "datetime":
        value: datetime | None = parse_datetime(raw, date_only=False)
        if value is None:
            raise bad_request(f"Unrecognized 'Edm.DateTimeOffset' literal '{raw}' at '{pos}'.")
        return Token(kind, value, raw, pos)
    if kind == "enum":
        return Token(kind, EnumLiteral(m.group(1), m.group(2).replace("''", "'")), raw, pos)
    if kind == "ident" and raw in {"null", "true", "false"}:
        return Token(
            "null" if raw == "null" else "bool", None if raw == "null" else raw == "true", raw, pos
        )
    if kind == "guid":
        return Token(kind, raw.lower(), raw, pos)
    return Token(kind, raw, raw, pos)


def parse_key_predicate(text: str) -> list[tuple[str | None, Any]]:
    """``dataAreaId='usmf',JournalBatchNumber='X'`` or a bare ``'US-001'`` -> (name, value) pairs."""
    tokens = tokenize(text)
    pairs: list[tuple[str | None, Any]] = []
    i = 0
    while tokens[i].kind != "end":
        name: str | None = None
        if tokens[i].kind == "ident" and tokens[i + 1].text == "=":
            name = str(tokens[i].value)
            i += 2
        value_token = tokens[i]
        if value_token.kind in {"punct", "end", "ident"}:
            raise bad_request(f"Bad Request - Error in query syntax: key predicate '{text}'.")
        pairs.append((name, value_token.value))
        i += 1
        if tokens[i].text == ",":
            i += 1
        elif tokens[i].kind != "end":
            raise bad_request(f"Bad Request - Error in query syntax: key predicate '{text}'.")
    return pairs


def format_literal(value: Any) -> str:
    """A stored value as a URL key literal (for ``@odata.id`` / ``editLink``)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else format(value, "f")
    return str(value)
