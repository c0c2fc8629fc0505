"""Property tests: arbitrary JSON into every shipped template never escapes as an exception."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paybridge.mapping import CompiledTemplate, compile_text, load_templates
from paybridge.mapping.compiler import ExpressionCompiler
from paybridge.mapping.functions import Scope, default_registry
from tests.unit.mapping.samples import SAMPLES

TEMPLATES = load_templates()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["sale", "refund", "void", "capture", "USD", "JPY", "GB12", "Y", "N",
                     "4/10/2015 4:06:30 PM", "2026-03-08T06:30:00Z", "Yes", "No", ""]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def mutate(sample: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The realistic sample with some of its fields (and nested fields) replaced by junk."""
    keys = sorted(sample)
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys)).map(
        lambda junk: {**sample, **junk}
    )


def check_result(template: CompiledTemplate, source: Any, context: dict[str, Any]) -> None:
    result = template.apply(source, context=context)
    assert isinstance(result.record, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.errors.items())
    if "$source" in result.errors or "$context" in result.errors:
        assert result.record == {}
        return
    for rule in template.fields:
        top = rule.path[0]
        assert rule.name in result.errors or top in result.record or rule.optional
    for value in _leaves(result.record):
        assert not isinstance(value, float), "a float reached a mapped record"


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_arbitrary_json_never_raises(name: str, data: st.DataObject) -> None:
    template = TEMPLATES.get(name)
    sample, context = SAMPLES[name]
    source = data.draw(st.one_of(json_values, mutate(sample)))
    check_result(template, source, context)
    junk_context = data.draw(
        st.dictionaries(st.sampled_from(sorted(template.context) or ["x"]), json_values)
    )
    check_result(template, sample, junk_context)


EXPRESSIONS = ["a.b", "a[0]", "a || b", "a && b", "!a", "a == b", "a < b", "{x: a, y: b}", "[a, b]",
               "a[?@ == b]", "a[*].b", "length(a)"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(a=json_values, b=json_values, expression=st.sampled_from(EXPRESSIONS))
def test_compiled_expressions_match_jmespath(a: Any, b: Any, expression: str) -> None:
    """The inlined closures keep JMESPath's semantics (checked against jmespath itself)."""
    import jmespath

    registry = default_registry()
    compiled, _ = ExpressionCompiler(registry, registry.tables).compile(expression)
    assert compiled is not None
    scope = Scope({}, None, registry.tables, registry)
    data = {"a": a, "b": b}
    try:
        expected: Any = jmespath.search(expression, data)
    except Exception:  # jmespath rejects some inputs (types); ours must fail too or give null
        expected = _RAISES
    try:
        actual: Any = compiled.evaluate(data, scope)
    except Exception:
        actual = _RAISES
    if expected is _RAISES or actual is _RAISES:
        assert actual is _RAISES or actual is None
    else:
        assert actual == expected
        assert type(actual) is type(expected) or isinstance(expected, (int, Decimal))


_RAISES = object()


def test_template_with_only_defaults_never_raises() -> None:
    template, _ = compile_text(
        "name: t\nversion: 1\nsource: d365.X\ntarget: d365.Y\n"
        "fields:\n  A:\n    expr: a.b.c\n    default: 0.5\n  B:\n    expr: b\n    optional: true\n"
    )
    assert template is not None
    assert template.apply([1, 2]).errors == {"$source": "expected a JSON object, got list"}  # type: ignore[arg-type]
    not_a_mapping: Any = []
    assert template.apply({}, context=not_a_mapping).errors == {
        "$context": "context must be a mapping of names to values"
    }
    assert template.apply({"a": 1}).record == {"A": Decimal("0.5")}
