"""``$filter`` as F&O supports it: a recursive-descent parser compiled to Python predicates.

Supported as documented for F&O: ``eq ne gt ge lt le and or not``, grouping, arithmetic
``add sub mul div divby mod``, wildcard ``eq '*x*'``, enum literals (eq/ne only), unquoted dates,
case-insensitive string comparison. ``in`` and ``has`` are refused (400) like F&O's docs say;
query functions (``contains()``, ``startswith()``...) are refused too — they are not documented
for ``/data`` and an integration must not depend on them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

from paybridge_sandbox.dynamics.errors import bad_request
from paybridge_sandbox.dynamics.literals import EnumLiteral, Token, tokenize
from paybridge_sandbox.dynamics.schema import ENUM_PREFIX, EntityDef, FieldDef, Schema
from paybridge_sandbox.dynamics.values import fold

Getter = Callable[[dict[str, Any]], Any]
Predicate = Callable[[dict[str, Any]], bool]
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_ARITH = {"add", "sub", "mul", "div", "divby", "mod"}


@dataclass
class Operand:
    """A compiled sub-expression: how to get its value and what it is (for type checks)."""

    get: Getter
    kind: str  # string number datetime enum bool null
    fdef: FieldDef | None = None
    literal: Any = None
    is_literal: bool = False


@dataclass
class Compiled:
    """A compiled filter plus top-level ``field eq value`` conjuncts usable as index probes."""

    predicate: Predicate
    equalities: list[tuple[str, Any]] = field(default_factory=list)


def compile_filter(text: str, entity: EntityDef, schema: Schema) -> Compiled:
    return _Parser(tokenize(text), entity, schema, text).parse()


class _Parser:
    def __init__(self, tokens: list[Token], entity: EntityDef, schema: Schema, text: str) -> None:
        self.tokens = tokens
        self.i = 0
        self.entity = entity
        self.schema = schema
        self.text = text
        self.equalities: list[tuple[str, Any]] = []

    def parse(self) -> Compiled:
        predicate = self._or(top=True)
        if self._peek().kind != "end":
            raise self._syntax()
        return Compiled(predicate, self.equalities)

    def _peek(self) -> Token:
        return self.tokens[self.i]

    def _take(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def _word(self) -> str:
        token = self._peek()
        return str(token.value) if token.kind == "ident" else ""

    def _syntax(self) -> Exception:
        token = self._peek()
        return bad_request(f"Syntax error at position {token.pos} in '{self.text}'.")

    def _or(self, top: bool = False) -> Predicate:
        left = self._and(top)
        while self._word() == "or":
            self._take()
            right = self._and(False)
            left = _either(left, right)
        return left

    def _and(self, top: bool) -> Predicate:
        start = len(self.equalities)
        left = self._not(top)
        while self._word() == "and":
            self._take()
            right = self._not(top)
            left = _both(left, right)
        if self._word() == "or":
            del self.equalities[start:]  # an 'or' makes these conjuncts unusable as probes
        return left

    def _not(self, top: bool) -> Predicate:
        if self._word() == "not":
            self._take()
            inner = self._not(False)
            return lambda row: not inner(row)
        return self._comparison(top)

    def _comparison(self, top: bool) -> Predicate:
        if self._peek().text == "(" and self._is_group():
            self._take()
            inner = self._or(False)
            if self._take().text != ")":
                raise self._syntax()
            return inner
        left = self._additive()
        op = self._word()
        if op in {"in", "has"}:
            raise bad_request(
                f"The query specified in the URI is not valid. The '{op}' operator "
                "is not supported."
            )
        if op not in _COMPARE:
            if left.kind == "bool" and not left.is_literal:
                return lambda row: bool(left.get(row))
            raise self._syntax()
        self._take()
        right = self._additive()
        return self._compare(op, left, right, top)

    def _is_group(self) -> bool:
        # '(' starts a boolean group unless it only wraps an arithmetic operand of a comparison.
        depth, j = 0, self.i
        while self.tokens[j].kind != "end":
            text = self.tokens[j].text
            depth += text == "("
            depth -= text == ")"
            if depth == 0:
                nxt = self.tokens[j + 1]
                return not (nxt.kind == "ident" and (nxt.value in _COMPARE or nxt.value in _ARITH))
            j += 1
        return True

    def _additive(self) -> Operand:
        left = self._multiplicative()
        while self._word() in {"add", "sub"}:
            op = str(self._take().value)
            left = _arith(op, left, self._multiplicative())
        return left

    def _multiplicative(self) -> Operand:
        left = self._primary()
        while self._word() in {"mul", "div", "divby", "mod"}:
            op = str(self._take().value)
            left = _arith(op, left, self._primary())
        return left

    def _primary(self) -> Operand:
        token = self._take()
        if token.text == "(":
            inner = self._additive()
            if self._take().text != ")":
                raise self._syntax()
            return inner
        if token.kind == "ident":
            if self._peek().text == "(":
                raise bad_request(
                    f"The query specified in the URI is not valid. Query function "
                    f"'{token.value}' is not supported."
                )
            return self._property(str(token.value))
        return _literal(token, self)

    def _property(self, name: str) -> Operand:
        fdef = self.entity.by_name.get(name)
        if fdef is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type '{self.entity.qualified_type}'."
            )
        kind = {
            "decimal": "number",
            "int": "number",
            "date": "datetime",
            "datetime": "datetime",
            "enum": "enum",
        }.get(fdef.kind, "string")
        if fdef.edm_type == "Edm.Boolean":  # the /Metadata service's flags (IsReadOnly, ...)
            kind = "bool"

        def get(row: dict[str, Any]) -> Any:
            return row.get(name)

        return Operand(get, kind, fdef)

    def _compare(self, op: str, left: Operand, right: Operand, top: bool) -> Predicate:
        if right.fdef is not None and left.is_literal:
            left, right = right, left
            op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        _check_types(op, left, right)
        if (
            left.fdef is not None
            and left.fdef.kind == "date"
            and isinstance(right.literal, datetime)
        ):
            right = _noon(right)
        if (
            right.kind == "string"
            and right.is_literal
            and op in {"eq", "ne"}
            and "*" in str(right.literal)
        ):
            pattern = _wildcard(str(right.literal))
            getter = left.get
            match: Predicate = lambda row: bool(pattern.match(str(getter(row) or "")))  # noqa: E731
            return match if op == "eq" else (lambda row: not match(row))
        if top and op == "eq" and left.fdef is not None and right.is_literal:
            self.equalities.append((left.fdef.name, fold(right.literal)))
        return _comparator(op, left.get, right.get)


def _literal(token: Token, parser: _Parser) -> Operand:
    value = token.value
    if token.kind == "string":
        return Operand(lambda row: value, "string", literal=value, is_literal=True)
    if token.kind == "number":
        return Operand(lambda row: value, "number", literal=value, is_literal=True)
    if token.kind == "datetime":
        return Operand(lambda row: value, "datetime", literal=value, is_literal=True)
    if token.kind == "enum":
        assert isinstance(value, EnumLiteral)
        member = _enum_member(value, parser.schema)
        return Operand(lambda row: member, "enum", literal=member, is_literal=True)
    if token.kind == "null":
        return Operand(lambda row: None, "null", literal=None, is_literal=True)
    if token.kind == "bool":
        return Operand(lambda row: value, "bool", literal=value, is_literal=True)
    if token.kind == "guid":
        return Operand(lambda row: value, "string", literal=value, is_literal=True)
    raise bad_request(f"Syntax error at position {token.pos} in '{parser.text}'.")


def _enum_member(lit: EnumLiteral, schema: Schema) -> str:
    enum_name = lit.enum_name.removeprefix(ENUM_PREFIX)
    members = schema.enum_members(enum_name)
    if not members:
        raise bad_request(f"The type '{lit.enum_name}' is not an enumeration type.")
    if lit.member not in members:
        raise bad_request(f"The string '{lit.member}' is not a valid enumeration type constant.")
    return lit.member


def _check_types(op: str, left: Operand, right: Operand) -> None:
    kinds = {left.kind, right.kind}
    if "enum" in kinds and op not in {"eq", "ne"}:
        raise bad_request(
            f"The operator '{op}' is not supported for enumeration types; only 'eq' and 'ne' are."
        )
    if "null" in kinds or len(kinds) == 1 or kinds == {"enum", "string"}:
        return
    raise bad_request(
        "A binary operator with incompatible types was detected. Found operand "
        f"types '{_edm(left)}' and '{_edm(right)}' for operator kind '{op}'."
    )


def _edm(operand: Operand) -> str:
    if operand.fdef is not None:
        return operand.fdef.edm_type
    return {
        "string": "Edm.String",
        "number": "Edm.Decimal",
        "datetime": "Edm.DateTimeOffset",
        "bool": "Edm.Boolean",
        "enum": "Enum",
    }.get(operand.kind, operand.kind)


def _noon(operand: Operand) -> Operand:
    value = operand.literal
    assert isinstance(value, datetime)
    noon = datetime(value.year, value.month, value.day, 12, tzinfo=UTC)
    return Operand(lambda row: noon, "datetime", literal=noon, is_literal=True)


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile(
        fnmatch.translate(text.replace("[", "[[]").replace("?", "[?]")), re.IGNORECASE | re.DOTALL
    )


def _comparator(op: str, left: Getter, right: Getter) -> Predicate:
    def compare(row: dict[str, Any]) -> bool:
        a, b = fold(left(row)), fold(right(row))
        if op == "eq":
            return bool(a == b)
        if op == "ne":
            return bool(a != b)
        if a is None or b is None:
            return False
        try:
            return bool(_ORDER[op](a, b))
        except TypeError:
            return False

    return compare


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def _arith(op: str, left: Operand, right: Operand) -> Operand:
    if left.kind != "number" or right.kind != "number":
        raise bad_request(f"The '{op}' operator needs numeric operands.")
    lg, rg = left.get, right.get

    def compute(row: dict[str, Any]) -> Any:
        a, b = lg(row), rg(row)
        if a is None or b is None:
            return None
        try:
            return _ARITH_OPS[op](Decimal(a), Decimal(b))
        except (DivisionByZero, InvalidOperation):
            return None

    return Operand(compute, "number")


_ARITH_OPS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "divby": lambda a, b: a / b,
    "mod": lambda a, b: a % b,
}


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) or b(row)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) and b(row)
