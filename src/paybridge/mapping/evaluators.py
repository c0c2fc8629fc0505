"""Runtime pieces of compiled expressions: JMESPath semantics for paths, comparisons and calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any, cast

from jmespath import functions as jp_functions
from jmespath.visitor import Options, TreeInterpreter

from paybridge.mapping.functions import FunctionSpec, Scope

Evaluator = Callable[[Any, Scope], Any]
Node = dict[str, Any]


class BridgeFunctions(jp_functions.Functions):
    """Lets jmespath's interpreter call the registry's functions with the current scope."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def call_function(self, function_name: str, resolved_args: Any) -> Any:
        if self._scope.registry.get(function_name) is not None:
            return self._scope.registry.call(self._scope, function_name, list(resolved_args))
        return super().call_function(function_name, resolved_args)


def interpreter_for(scope: Scope) -> TreeInterpreter:
    if scope.interpreter is None:
        scope.interpreter = TreeInterpreter(Options(custom_functions=BridgeFunctions(scope)))
    interpreter: TreeInterpreter = scope.interpreter
    return interpreter


def decimal_literals(value: Any) -> Any:
    """JSON literals in templates are money-safe: ``1.5`` becomes Decimal('1.5'), never a float."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [decimal_literals(v) for v in value]
    if isinstance(value, dict):
        return {k: decimal_literals(v) for k, v in value.items()}
    return value


def decimal_literals_in(node: Node) -> Node:
    if node.get("type") == "literal":
        node["value"] = decimal_literals(node["value"])
    for child in node.get("children", []):
        if isinstance(child, dict):
            decimal_literals_in(child)
    return node


def is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)


def jmes_equals(left: Any, right: Any) -> bool:
    # JMESPath keeps true/false apart from 1/0, which Python's == does not.
    if is_number(left) and left in (0, 1) and isinstance(right, bool):
        return False
    if is_number(right) and right in (0, 1) and isinstance(left, bool):
        return False
    return bool(left == right)


def jmes_ordered(op: str, left: Any, right: Any) -> bool | None:
    both_numbers = is_number(left) and is_number(right)
    if not both_numbers and not (isinstance(left, str) and isinstance(right, str)):
        return None
    if op == "lt":
        return bool(left < right)
    if op == "lte":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    return bool(left >= right)


def get_field(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, Mapping):
        return value.get(key)
    return None


def path_of(keys: tuple[str, ...]) -> Evaluator:
    if len(keys) == 1:
        (key,) = keys
        return lambda v, s: v.get(key) if isinstance(v, dict) else get_field(v, key)

    def path(value: Any, scope: Scope) -> Any:
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else get_field(value, key)
            if value is None:
                return None
        return value

    return path


def chain_of(steps: list[Evaluator]) -> Evaluator:
    def chain(value: Any, scope: Scope) -> Any:
        for step in steps:
            value = step(value, scope)
        return value

    return chain


def interpreted(node: Node) -> Evaluator:
    tree = cast(Any, node)
    return lambda v, s: interpreter_for(s).visit(tree, v)


class Arg:
    """How an argument is computed, so that calls can read a key, a context value or a constant
    inline instead of through one more closure (most arguments are one of these)."""

    __slots__ = ("evaluate", "kind", "payload")

    def __init__(self, kind: str, payload: Any, evaluate: Evaluator) -> None:
        self.kind = kind  # "const", "key", "ctx" (context value without default) or "eval"
        self.payload = payload
        self.evaluate = evaluate


def call_function(spec: FunctionSpec, args: list[Arg]) -> Evaluator:
    impl = spec.impl
    funcs = [a.evaluate for a in args]
    if spec.uses_scope:
        return lambda v, s: impl(s, *[f(v, s) for f in funcs])
    if len(args) == 1:
        return _call_one(impl, args[0])
    if len(args) == 2:
        return _call_two(impl, args[0], args[1])
    if all(a.kind in ("const", "key") for a in args):
        return _call_flat(impl, args)
    leading = 0
    while leading < len(args) and args[leading].kind == "const":
        leading += 1
    if leading:
        bound = partial(impl, *[a.payload for a in args[:leading]])
        rest = funcs[leading:]
        return lambda v, s: bound(*[f(v, s) for f in rest])
    return lambda v, s: impl(*[f(v, s) for f in funcs])


def _call_flat(impl: Callable[..., Any], args: list[Arg]) -> Evaluator:
    """Every argument a constant or a key of the current object: read them in one pass."""
    plan = [(a.kind == "const", a.payload) for a in args]

    def call(value: Any, scope: Scope) -> Any:
        if type(value) is dict:
            return impl(*[p if c else value.get(p) for c, p in plan])
        return impl(*[p if c else get_field(value, p) for c, p in plan])

    return call


def _call_one(impl: Callable[..., Any], arg: Arg) -> Evaluator:
    if arg.kind == "key":
        key = arg.payload
        return lambda v, s: impl(v.get(key) if type(v) is dict else get_field(v, key))
    if arg.kind == "ctx":
        name = arg.payload
        return lambda v, s: impl(s.context.get(name))
    one = arg.evaluate
    return lambda v, s: impl(one(v, s))


def _call_two(impl: Callable[..., Any], first: Arg, second: Arg) -> Evaluator:
    one, two = first.evaluate, second.evaluate
    if second.kind == "const":
        constant = second.payload
        if first.kind == "key":
            key = first.payload
            return lambda v, s: impl(v.get(key) if type(v) is dict else get_field(v, key), constant)
        return lambda v, s: impl(one(v, s), constant)
    if first.kind == "key":
        key = first.payload
        return lambda v, s: impl(v.get(key) if type(v) is dict else get_field(v, key), two(v, s))
    return lambda v, s: impl(one(v, s), two(v, s))
