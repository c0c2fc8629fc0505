"""The registry of pure functions templates may call, and the per-apply scope some of them read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from paybridge.errors import RetryableError
from paybridge.mapping import fn_money, fn_text, fn_time
from paybridge.mapping.enrich import KNOWN_ENRICH_KINDS, Enricher
from paybridge.mapping.errors import MappingValueError
from paybridge.mapping.tables import builtin_tables

# Static result types, used by ``check`` to compare a field with its Edm type.
STRING, DECIMAL, INTEGER, BOOLEAN, DATE, DATETIME = (
    "string",
    "decimal",
    "integer",
    "boolean",
    "date",
    "datetime",
)
OBJECT, LIST, ANY = "object", "list", "any"


@dataclass(frozen=True)
class FunctionSpec:
    """One callable name: arity bounds (``max_args=None`` is variadic) and its static result type."""

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    returns: str = ANY
    uses_scope: bool = False
    summary: str = ""


class Scope:
    """What one ``apply`` call can see besides the source: context values, tables, the enricher."""

    __slots__ = ("context", "defaults", "enricher", "interpreter", "registry", "tables", "vars")

    def __init__(
        self,
        context: Mapping[str, Any],
        enricher: Enricher | None,
        tables: Mapping[str, Mapping[str, Any]],
        registry: FunctionRegistry,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.context = context
        self.enricher = enricher
        self.tables = tables
        self.registry = registry
        self.defaults: Mapping[str, Any] = defaults or {}
        self.vars: dict[str, Any] = {}  # the template's ``let`` values of this apply
        self.interpreter: Any = None  # built on first use by expressions the compiler cannot inline


class LetFailure:
    """Stands in for a ``let`` value whose expression failed; fields reading it fail with it."""

    __slots__ = ("message", "name")

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message

    def reraise(self) -> Any:
        raise MappingValueError(f"let {self.name}: {self.message}")


def read_var(scope: Scope, name: str) -> Any:
    value = scope.vars.get(name)
    return value.reraise() if isinstance(value, LetFailure) else value


def is_false(value: Any) -> bool:
    """JMESPath falsiness: null, false, '' , [] and {} (but not 0)."""
    return value is None or value is False or value == "" or value == [] or value == {}


def _if(condition: Any, then: Any, otherwise: Any = None) -> Any:
    return otherwise if is_false(condition) else then


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None or value == "" else value


def _ctx(scope: Scope, name: Any) -> Any:
    if not isinstance(name, str):
        raise MappingValueError("ctx() takes the context value's name as a quoted string")
    value = scope.context.get(name)
    return scope.defaults.get(name) if value is None else value


def _var(scope: Scope, name: Any) -> Any:
    if not isinstance(name, str):
        raise MappingValueError("var() takes the let value's name as a quoted string")
    return read_var(scope, name)


def lookup_in(table_name: str, table: Mapping[str, Any], key: Any, *default: Any) -> Any:
    """Shared by the eager function and the compiler's precomputed form."""
    if key is None:
        return None
    text_key = _table_key(key)
    if text_key in table:
        return table[text_key]
    if default:
        return default[0]
    known = ", ".join(sorted(table)[:12])
    raise MappingValueError(f"{text_key!r} is not in table {table_name!r} (known: {known})")


def _table_key(key: Any) -> str:
    if isinstance(key, Decimal) and key == key.to_integral_value():
        return str(int(key))
    result = fn_text.text(key)
    return "" if result is None else result


def _lookup(scope: Scope, table_name: Any, key: Any, *default: Any) -> Any:
    table = scope.tables.get(table_name) if isinstance(table_name, str) else None
    if table is None:
        raise MappingValueError(f"unknown lookup table {table_name!r}")
    return lookup_in(table_name, table, key, *default)


def _enrich(scope: Scope, kind: Any, key: Any) -> Any:
    if key is None or key == "":
        return None
    if scope.enricher is None:
        raise MappingValueError(f"enrich({kind!r}) needs an enricher in the mapping context")
    try:
        found = scope.enricher.lookup(str(kind), _table_key(key))
    except RetryableError:
        raise  # a transient read failure: the event is retried, not dead-lettered
    return None if found is None else dict(found)


def _expect(value: Any, allowed: Any) -> Any:
    if not isinstance(allowed, list):
        raise MappingValueError("expect() takes a list of allowed values")
    if value is not None and value not in allowed:
        raise MappingValueError(f"{value!r} is not one of {allowed!r}")
    return value


def _fail(message: Any) -> Any:
    raise MappingValueError(fn_text.text(message) or "failed")


def _spec(name: str, impl: Callable[..., Any], lo: int, hi: int | None, returns: str = ANY,
          *, scope: bool = False) -> FunctionSpec:  # fmt: skip
    summary = (impl.__doc__ or "").strip().splitlines()[0] if impl.__doc__ else ""
    return FunctionSpec(name, impl, lo, hi, returns, scope, summary)


def _core_specs() -> list[FunctionSpec]:
    t, m, x = fn_time, fn_money, fn_text
    return [
        _spec("if", _if, 2, 3), _spec("coalesce", _coalesce, 1, None),
        _spec("default", _default, 2, 2), _spec("ctx", _ctx, 1, 1, scope=True),
        _spec("var", _var, 1, 1, scope=True),
        _spec("lookup", _lookup, 2, 3, scope=True), _spec("enrich", _enrich, 2, 2, OBJECT, scope=True),
        _spec("expect", _expect, 2, 2), _spec("fail", _fail, 1, 1),
        _spec("paytrace_datetime", t.paytrace_datetime, 1, 2, DATETIME),
        _spec("to_paytrace_datetime", t.to_paytrace_datetime, 1, 2, STRING),
        _spec("paytrace_date", t.paytrace_date, 1, 2, STRING),
        _spec("d365_date", t.d365_date, 1, 2, DATE), _spec("from_d365_date", t.from_d365_date, 1, 1, STRING),
        _spec("d365_datetime", t.d365_datetime, 1, 1, DATETIME), _spec("iso_utc", t.iso_utc, 1, 1, DATETIME),
        _spec("decimal", m.decimal, 1, 1, DECIMAL), _spec("round_money", m.round_money, 2, 2, DECIMAL),
        _spec("money_string", m.money_string, 2, 2, STRING), _spec("negate", m.negate, 1, 1, DECIMAL),
        _spec("abs_amount", m.abs_amount, 1, 1, DECIMAL), _spec("is_negative", m.is_negative, 1, 1, BOOLEAN),
        _spec("add", m.add, 2, 2, DECIMAL), _spec("subtract", m.subtract, 2, 2, DECIMAL),
        _spec("exponent", m.exponent, 1, 1, INTEGER),
        _spec("text", x.text, 1, 1, STRING), _spec("concat", x.concat, 1, None, STRING),
        _spec("text_values", x.text_values, 1, 1, OBJECT),
        _spec("join_nonempty", x.join_nonempty, 2, None, STRING), _spec("join_lines", x.join_lines, 1, None, STRING),
        _spec("line", x.line, 2, 2, STRING), _spec("split", x.split, 2, 2, LIST),
        _spec("split_name", x.split_name, 1, 1, OBJECT), _spec("truncate", x.truncate, 2, 2, STRING),
        _spec("upper", x.upper, 1, 1, STRING), _spec("lower", x.lower, 1, 1, STRING),
        _spec("trim", x.trim, 1, 1, STRING), _spec("replace", x.replace, 3, 3, STRING),
        _spec("alnum", x.alnum, 1, 1, STRING), _spec("escape_segment", x.escape_segment, 1, 1, STRING),
        _spec("unescape_segment", x.unescape_segment, 1, 1, STRING),
        _spec("short_mask", x.short_mask, 1, 1, STRING),
        _spec("paytrace_batch", x.paytrace_batch, 1, 1, STRING),
        _spec("country_alpha3", x.country_alpha3, 1, 1, STRING),
        _spec("country_alpha2", x.country_alpha2, 1, 1, STRING),
    ]  # fmt: skip


class FunctionRegistry:
    """Named pure functions, the lookup tables and the enrich kinds templates may use.

    Build one with ``default_registry()`` and ``register`` more; a template is compiled against
    one registry, and an unknown function, table or enrich kind stops it from loading.
    """

    def __init__(
        self,
        specs: Iterable[FunctionSpec] = (),
        *,
        tables: Mapping[str, Mapping[str, Any]] | None = None,
        enrich_kinds: Iterable[str] = KNOWN_ENRICH_KINDS,
    ) -> None:
        self._specs: dict[str, FunctionSpec] = {}
        self.tables: dict[str, Mapping[str, Any]] = dict(tables or {})
        self.enrich_kinds = frozenset(enrich_kinds)
        for spec in specs:
            self.register(spec)

    def register(self, spec: FunctionSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"function {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def get(self, name: str) -> FunctionSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def call(self, scope: Scope, name: str, args: list[Any]) -> Any:
        spec = self._specs[name]
        return spec.impl(scope, *args) if spec.uses_scope else spec.impl(*args)


def default_registry() -> FunctionRegistry:
    """The engine's functions and tables; a new object each call, so callers may extend it."""
    return FunctionRegistry(_core_specs(), tables=builtin_tables())
