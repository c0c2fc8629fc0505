"""Static information about expressions: result types and possible values, for ``check``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from paybridge.mapping.functions import ANY, BOOLEAN, DECIMAL, INTEGER, STRING, FunctionRegistry

Node = dict[str, Any]

BUILTIN_RETURNS = {"length": INTEGER, "join": STRING, "to_string": STRING, "type": STRING,
                    "contains": BOOLEAN, "starts_with": BOOLEAN, "ends_with": BOOLEAN,
                    "not_null": ANY}  # fmt: skip


@dataclass(frozen=True)
class StaticInfo:
    """What can be known before running: the result type and, when finite, the possible values."""

    type: str
    values: frozenset[Any] | None = None

    def union(self, other: StaticInfo) -> StaticInfo:
        if self.type == "null":
            return other
        if other.type == "null":
            return self
        values = None if self.values is None or other.values is None else self.values | other.values
        return StaticInfo(self.type if self.type == other.type else ANY, values)


NULL = StaticInfo("null", frozenset())
UNKNOWN = StaticInfo(ANY)


@dataclass(frozen=True)
class Known:
    """What ``infer`` may consult: the registry, the tables and the ``let`` values so far."""

    registry: FunctionRegistry
    tables: Mapping[str, Mapping[str, Any]]
    lets: Mapping[str, StaticInfo]


def infer(node: Node, known: Known) -> StaticInfo:
    """The result type (and finite values) of an expression tree, as far as it can be known."""
    kind = node["type"]
    if kind == "literal":
        return literal_info(node["value"])
    if kind == "or_expression":
        left, right = (infer(c, known) for c in node["children"])
        return left.union(right)
    if kind in ("comparator", "not_expression"):
        return StaticInfo(BOOLEAN)
    if kind == "function_expression":
        return _call_info(node["value"], node["children"], known)
    return UNKNOWN


def _call_info(name: str, children: list[Node], known: Known) -> StaticInfo:
    if name == "if":
        branches = [infer(c, known) for c in children[1:]] + ([NULL] if len(children) == 2 else [])
        return union_all(branches)
    if name in ("coalesce", "default"):
        return union_all([infer(c, known) for c in children])
    if name == "var":
        return known.lets.get(children[0]["value"], UNKNOWN)
    if name == "lookup":
        values = frozenset(known.tables[children[0]["value"]].values())
        kinds = {literal_info(v).type for v in values}
        found = StaticInfo(kinds.pop() if len(kinds) == 1 else ANY, values)
        return found.union(infer(children[2], known)) if len(children) == 3 else found
    spec = known.registry.get(name)
    return StaticInfo(spec.returns if spec else BUILTIN_RETURNS.get(name, ANY))


def literal_info(value: Any) -> StaticInfo:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return StaticInfo(BOOLEAN, frozenset([value]))
    if isinstance(value, str):
        return StaticInfo(STRING, frozenset([value]))
    if isinstance(value, int):
        return StaticInfo(INTEGER, frozenset([value]))
    if isinstance(value, Decimal):
        return StaticInfo(DECIMAL, frozenset([value]))
    return UNKNOWN


def union_all(infos: list[StaticInfo]) -> StaticInfo:
    result = NULL
    for info in infos:
        result = result.union(info)
    return result
