"""Compiles a JMESPath expression once into Python closures over the registry; never ``eval``.

The common node types (paths, literals, comparisons, and/or/not, multi-selects, function calls)
become closures, so a plain path such as ``amount.amount`` is a few dict lookups. Projections,
filters and slices are left to jmespath's own interpreter, given a bridge to the registry.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import jmespath
from jmespath import exceptions as jp_errors
from jmespath import functions as jp_functions

from paybridge.mapping.evaluators import (
    Arg,
    Evaluator,
    Node,
    call_function,
    chain_of,
    decimal_literals_in,
    interpreted,
    is_number,
    jmes_equals,
    jmes_ordered,
    path_of,
)
from paybridge.mapping.functions import (
    FunctionRegistry,
    FunctionSpec,
    LetFailure,
    Scope,
    is_false,
    lookup_in,
)
from paybridge.mapping.static import Known, StaticInfo, infer

_BUILTINS = jp_functions.Functions()
_BUILTIN_TABLE: Mapping[str, Any] = jp_functions.Functions.FUNCTION_TABLE
_LITERAL_ARG = {
    "lookup": "table",
    "ctx": "context value",
    "enrich": "enrich kind",
    "var": "let value",
}


@dataclass(frozen=True)
class CompiledExpression:
    text: str
    evaluate: Evaluator
    info: StaticInfo
    context_keys: frozenset[str]


class ExpressionCompiler:
    """Checks and compiles expressions against one registry, table set and context declaration."""

    def __init__(
        self,
        registry: FunctionRegistry,
        tables: Mapping[str, Mapping[str, Any]],
        context_keys: frozenset[str] | None = None,
        context_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self._registry = registry
        self._tables = tables
        self._context_keys = context_keys
        self._context_defaults = context_defaults or {}
        self._lets: dict[str, StaticInfo] = {}

    def declare_let(self, name: str, info: StaticInfo) -> None:
        """Make ``var(name)`` valid in the expressions compiled from now on."""
        self._lets[name] = info

    def compile(self, text: str) -> tuple[CompiledExpression | None, list[str]]:
        """The compiled expression, or None and every problem found in it."""
        if not isinstance(text, str) or not text.strip():
            return None, ["expression is empty"]
        try:
            parsed: Node = cast(Node, jmespath.compile(text).parsed)
            tree = decimal_literals_in(copy.deepcopy(parsed))
        except jp_errors.JMESPathError as exc:
            return None, [f"invalid expression: {' '.join(str(exc).split())}"]
        problems: list[str] = []
        used: set[str] = set()
        self._validate(tree, problems, used)
        if problems:
            return None, problems
        info = infer(tree, Known(self._registry, self._tables, self._lets))
        return CompiledExpression(text, self._node(tree), info, frozenset(used)), []

    # -- validation -------------------------------------------------------------------------

    def _validate(self, node: Node, problems: list[str], used: set[str]) -> None:
        if node.get("type") == "function_expression":
            self._validate_call(node, problems, used)
        for child in node.get("children", []):
            if isinstance(child, dict):
                self._validate(child, problems, used)

    def _validate_call(self, node: Node, problems: list[str], used: set[str]) -> None:
        name, args = node["value"], node["children"]
        spec = self._registry.get(name)
        if spec is None and name not in _BUILTIN_TABLE:
            known = self._registry.names() + sorted(_BUILTIN_TABLE)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}()?)" if close else ""
            problems.append(f"unknown function {name}(){hint}")
            return
        low, high = _arity(spec, name)
        if len(args) < low or (high is not None and len(args) > high):
            expected = (
                f"{low}" if low == high else f"{low} to {high if high is not None else 'any'}"
            )
            problems.append(f"{name}() takes {expected} arguments, got {len(args)}")
            return
        if name in _LITERAL_ARG and spec is not None:
            self._validate_literal_arg(name, args[0], problems, used)

    def _validate_literal_arg(
        self, name: str, arg: Node, problems: list[str], used: set[str]
    ) -> None:
        what = _LITERAL_ARG[name]
        value = arg.get("value") if arg.get("type") == "literal" else None
        if not isinstance(value, str):
            problems.append(f"{name}() needs the {what} name as a quoted string, e.g. {name}('x')")
        elif name == "lookup" and value not in self._tables:
            problems.append(f"unknown lookup table {value!r}{_hint(value, self._tables)}")
        elif name == "enrich" and value not in self._registry.enrich_kinds:
            problems.append(
                f"unknown enrich kind {value!r}{_hint(value, self._registry.enrich_kinds)}"
            )
        elif name == "var" and value not in self._lets:
            problems.append(
                f"var({value!r}) names no earlier 'let:' value{_hint(value, self._lets)}"
            )
        elif name == "ctx":
            used.add(value)
            if self._context_keys is not None and value not in self._context_keys:
                hint = _hint(value, self._context_keys)
                problems.append(f"ctx({value!r}) is not declared under 'context:'{hint}")

    # -- code generation ---------------------------------------------------------------------

    def _node(self, node: Node) -> Evaluator:
        kind = node["type"]
        if kind == "field":
            return path_of((node["value"],))
        if kind in ("subexpression", "index_expression", "pipe"):
            children = node["children"]
            if all(c["type"] == "field" for c in children):
                return path_of(tuple(c["value"] for c in children))
            return chain_of([self._node(c) for c in children])
        if kind == "literal":
            constant = node["value"]
            return lambda v, s: constant
        if kind in ("current", "identity"):
            return lambda v, s: v
        builder = _BUILDERS.get(kind)
        if builder is not None:
            return builder(self, node)
        return interpreted(node)

    def _index(self, node: Node) -> Evaluator:
        index: int = node["value"]

        def pick(value: Any, scope: Scope) -> Any:
            if isinstance(value, list) and -len(value) <= index < len(value):
                return value[index]
            return None

        return pick

    def _comparator(self, node: Node) -> Evaluator:
        op = node["value"]
        left, right = (self._node(c) for c in node["children"])
        constant = _string_literal(node["children"][1])
        if constant is not None and op in ("eq", "ne"):
            # Text never equals a boolean, so plain == keeps JMESPath semantics here.
            if op == "eq":
                return lambda v, s: left(v, s) == constant
            return lambda v, s: left(v, s) != constant
        if op == "eq":
            return lambda v, s: jmes_equals(left(v, s), right(v, s))
        if op == "ne":
            return lambda v, s: not jmes_equals(left(v, s), right(v, s))
        return lambda v, s: jmes_ordered(op, left(v, s), right(v, s))

    def _or(self, node: Node) -> Evaluator:
        left, right = (self._node(c) for c in node["children"])

        def either(value: Any, scope: Scope) -> Any:
            first = left(value, scope)
            return right(value, scope) if is_false(first) else first

        return either

    def _and(self, node: Node) -> Evaluator:
        left, right = (self._node(c) for c in node["children"])

        def both(value: Any, scope: Scope) -> Any:
            first = left(value, scope)
            if first is True:
                return right(value, scope)
            return first if is_false(first) else right(value, scope)

        return both

    def _not(self, node: Node) -> Evaluator:
        inner = self._node(node["children"][0])

        def negation(value: Any, scope: Scope) -> bool:
            result = inner(value, scope)
            if is_number(result) and result == 0:
                return False  # JMESPath: !0 is false, 0 being truthy
            return is_false(result)

        return negation

    def _multi_dict(self, node: Node) -> Evaluator:
        pairs = [(c["value"], self._node(c["children"][0])) for c in node["children"]]

        def build(value: Any, scope: Scope) -> Any:
            return None if value is None else {k: f(value, scope) for k, f in pairs}

        return build

    def _multi_list(self, node: Node) -> Evaluator:
        items = [self._node(c) for c in node["children"]]
        return lambda v, s: None if v is None else [f(v, s) for f in items]

    def _function(self, node: Node) -> Evaluator:
        name, children = node["value"], node["children"]
        if any(c["type"] == "expref" for c in children):
            return interpreted(node)
        args = [self._node(c) for c in children]
        special = _SPECIAL_FORMS.get(name)
        if special is not None and self._registry.get(name) is not None:
            return special(self, children, args)
        spec = self._registry.get(name)
        if spec is None:
            return lambda v, s: _BUILTINS.call_function(name, [f(v, s) for f in args])
        return call_function(spec, [self._arg(c, f) for c, f in zip(children, args, strict=True)])

    def _arg(self, node: Node, evaluate: Evaluator) -> Arg:
        if node["type"] == "literal":
            return Arg("const", node["value"], evaluate)
        if node["type"] == "field":
            return Arg("key", node["value"], evaluate)
        if node["type"] == "function_expression" and node["value"] == "ctx":
            name = node["children"][0]["value"]
            if name not in self._context_defaults:
                return Arg("ctx", name, evaluate)
        return Arg("eval", None, evaluate)

    def _lookup_form(self, children: list[Node], args: list[Evaluator]) -> Evaluator:
        table_name: str = children[0]["value"]
        table = self._tables[table_name]
        key = args[1]
        if len(args) == 3:
            fallback = args[2]
            return lambda v, s: lookup_in(table_name, table, key(v, s), fallback(v, s))
        return lambda v, s: lookup_in(table_name, table, key(v, s))

    def _ctx_form(self, children: list[Node], args: list[Evaluator]) -> Evaluator:
        name: str = children[0]["value"]
        default = self._context_defaults.get(name)
        if default is None:
            return lambda v, s: s.context.get(name)

        def with_default(value: Any, scope: Scope) -> Any:
            found = scope.context.get(name)
            return default if found is None else found

        return with_default

    def _var_form(self, children: list[Node], args: list[Evaluator]) -> Evaluator:
        name: str = children[0]["value"]

        def read(value: Any, scope: Scope) -> Any:
            found = scope.vars.get(name)
            return found.reraise() if type(found) is LetFailure else found

        return read

    def _if_form(self, children: list[Node], args: list[Evaluator]) -> Evaluator:
        # Lazy, so that the branch not taken cannot fail the field.
        cond, then = args[0], args[1]
        otherwise = args[2] if len(args) == 3 else None
        head = children[0]
        if otherwise is None and head["type"] == "function_expression" and head["value"] == "var":
            return _if_var(head["children"][0]["value"], then)

        def choose(value: Any, scope: Scope) -> Any:
            test = cond(value, scope)
            if test is True or (test is not False and not is_false(test)):
                return then(value, scope)
            return None if otherwise is None else otherwise(value, scope)

        return choose

    def _coalesce_form(self, children: list[Node], args: list[Evaluator]) -> Evaluator:
        def first(value: Any, scope: Scope) -> Any:
            for arg in args:
                result = arg(value, scope)
                if result is not None:
                    return result
            return None

        return first

    def _default_form(self, children: list[Node], args: list[Evaluator]) -> Evaluator:
        main, fallback = args

        def pick(value: Any, scope: Scope) -> Any:
            result = main(value, scope)
            return fallback(value, scope) if result is None or result == "" else result

        return pick

    # -- static information ------------------------------------------------------------------


def _arity(spec: FunctionSpec | None, name: str) -> tuple[int, int | None]:
    if spec is not None:
        return spec.min_args, spec.max_args
    signature = _BUILTIN_TABLE[name]["signature"]
    variadic = bool(signature and signature[-1].get("variadic"))
    return len(signature), None if variadic else len(signature)


def _if_var(name: str, then: Evaluator) -> Evaluator:
    def choose(value: Any, scope: Scope) -> Any:
        test = scope.vars.get(name)
        if test is True:
            return then(value, scope)
        if type(test) is LetFailure:
            return test.reraise()
        return None if is_false(test) else then(value, scope)

    return choose


def _string_literal(node: Node) -> str | None:
    value = node.get("value") if node["type"] == "literal" else None
    return value if isinstance(value, str) else None


def _hint(value: str, known: Any) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_Builder = Callable[[ExpressionCompiler, Node], Evaluator]
_BUILDERS: dict[str, _Builder] = {
    "index": ExpressionCompiler._index,
    "comparator": ExpressionCompiler._comparator,
    "or_expression": ExpressionCompiler._or,
    "and_expression": ExpressionCompiler._and,
    "not_expression": ExpressionCompiler._not,
    "multi_select_dict": ExpressionCompiler._multi_dict,
    "multi_select_list": ExpressionCompiler._multi_list,
    "function_expression": ExpressionCompiler._function,
}
_Form = Callable[[ExpressionCompiler, list[Node], list[Evaluator]], Evaluator]
_SPECIAL_FORMS: dict[str, _Form] = {
    "lookup": ExpressionCompiler._lookup_form,
    "ctx": ExpressionCompiler._ctx_form,
    "var": ExpressionCompiler._var_form,
    "if": ExpressionCompiler._if_form,
    "coalesce": ExpressionCompiler._coalesce_form,
    "default": ExpressionCompiler._default_form,
}
