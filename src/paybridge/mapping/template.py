"""A compiled template: checked once at load, then ``apply`` maps one source to one record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jmespath import exceptions as jp_errors
from pydantic import BaseModel, ValidationError

from paybridge.errors import DataError, RetryableError
from paybridge.mapping.coerce import COERCERS, Coercer
from paybridge.mapping.compiler import ExpressionCompiler
from paybridge.mapping.enrich import Enricher
from paybridge.mapping.errors import MappingValueError, TemplateProblem
from paybridge.mapping.evaluators import Evaluator, decimal_literals
from paybridge.mapping.functions import FunctionRegistry, LetFailure, Scope
from paybridge.mapping.spec import FieldSpec, TemplateSpec
from paybridge.mapping.static import StaticInfo
from paybridge.mapping.targets import CANONICAL_MODELS, Endpoint

ENRICHER_KEY = "enricher"


@dataclass(frozen=True)
class FieldRule:
    """One target field: its expression compiled, what null means, and the output check."""

    name: str
    expression: str
    line: int | None
    optional: bool
    has_default: bool
    default: Any
    declared_type: str | None
    info: StaticInfo
    evaluate: Evaluator = field(repr=False)
    coerce: Coercer | None = field(repr=False)
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldExplanation:
    field: str
    expression: str
    value: Any
    error: str | None
    note: str


class MappingResult(NamedTuple):
    """The mapped record and, per target field, what went wrong; ``ok`` when nothing did.

    A named tuple rather than a dataclass: one is built per record on the hot path.
    """

    record: dict[str, Any]
    errors: dict[str, str]
    explain: tuple[FieldExplanation, ...] = ()
    template: str = ""
    model: BaseModel | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Turn per-field errors into a ``DataError`` (what the dead-letter queue stores)."""
        if self.errors:
            raise DataError(
                f"template {self.template} could not map {len(self.errors)} field(s)",
                fields=self.errors, system="mapping", operation=f"apply {self.template}",
            )  # fmt: skip


def describe_error(exc: Exception) -> str:
    if isinstance(exc, (MappingValueError, jp_errors.JMESPathError)):
        return " ".join(str(exc).split())
    return f"{type(exc).__name__}: {exc}"


class CompiledTemplate:
    """Immutable after load. ``apply`` never raises on odd input (only a ``RetryableError`` from an
    enricher escapes, so that a transient D365 read is retried instead of dead-lettered)."""

    def __init__(
        self,
        spec: TemplateSpec,
        rules: list[FieldRule],
        *,
        registry: FunctionRegistry,
        tables: Mapping[str, Mapping[str, Any]],
        fingerprint: str,
        lets: tuple[tuple[str, str, Evaluator], ...] = (),
    ) -> None:
        assert spec.source is not None
        assert spec.target is not None
        self.name = spec.name
        self.version = spec.version
        self.description = spec.description
        self.file = spec.file
        self.source: Endpoint = spec.source
        self.target: Endpoint = spec.target
        self.operation = spec.operation
        self.context = {k: dict(v) for k, v in spec.context.items()}
        self.fields: tuple[FieldRule, ...] = tuple(rules)
        # Flat tuples for the hot loop: attribute reads on 19 fields per record add up.
        self._plan = tuple(
            (r.name, r.evaluate, r.coerce, len(r.path) == 1, r.has_default,
             r.optional and not r.has_default, r)
            for r in rules
        )  # fmt: skip
        self.fingerprint = fingerprint
        self.ref = f"{self.name}@{self.version}"  # what the ledger records per mapped event
        self._tables = tables
        self._registry = registry
        self._lets = lets
        self._defaults = {k: v["default"] for k, v in spec.context.items() if "default" in v}
        self._model = (
            CANONICAL_MODELS.get(self.target.name) if self.target.system == "canonical" else None
        )

    def __repr__(self) -> str:
        return f"<CompiledTemplate {self.ref} {self.source} -> {self.target}>"

    def apply(
        self,
        source: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        enricher: Enricher | None = None,
        explain: bool = False,
    ) -> MappingResult:
        if type(source) is not dict and not isinstance(source, Mapping):
            return self._fail("$source", f"expected a JSON object, got {type(source).__name__}")
        values = context if context is not None else {}
        if type(values) is not dict and not isinstance(values, Mapping):
            return self._fail("$context", "context must be a mapping of names to values")
        found = enricher if enricher is not None else values.get(ENRICHER_KEY)
        scope = Scope(values, found, self._tables, self._registry, self._defaults)
        root = source if isinstance(source, dict) else dict(source)
        notes: list[FieldExplanation] | None = [] if explain else None
        if self._lets:
            self._evaluate_lets(root, scope, notes)
        record: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if notes is None:
            self._run(root, scope, record, errors)
        else:
            self._run_explained(root, scope, record, errors, notes)
        model = self._validate_model(record, errors) if self._model and not errors else None
        return MappingResult(record, errors, tuple(notes) if notes else (), self.ref, model)

    def _run(
        self, root: dict[str, Any], scope: Scope, record: dict[str, Any], errors: dict[str, str]
    ) -> None:
        """The hot loop: one evaluation per field; defaults and output checks only when needed."""
        for name, evaluate, coerce, flat, has_default, omit, rule in self._plan:
            try:
                value = evaluate(root, scope)
                if value is None:
                    if omit:
                        continue  # optional and without default: simply not in the record
                    value = self._missing(rule)[0]
                elif has_default and value == "":
                    value = rule.default
                if coerce is not None and value is not None:
                    value = coerce(value)
            except RetryableError:
                raise
            except Exception as exc:  # any failure of one field is that field's error, by design
                errors[name] = describe_error(exc)
                continue
            if value is not None:
                if flat:
                    record[name] = value
                else:
                    _put(record, rule.path, value)

    def _run_explained(
        self,
        root: dict[str, Any],
        scope: Scope,
        record: dict[str, Any],
        errors: dict[str, str],
        notes: list[FieldExplanation],
    ) -> None:
        for rule in self.fields:
            try:
                value, note = self._finish(rule, rule.evaluate(root, scope))
            except RetryableError:
                raise
            except Exception as exc:  # any failure of one field is that field's error, by design
                errors[rule.name] = describe_error(exc)
                notes.append(
                    FieldExplanation(rule.name, rule.expression, None, errors[rule.name], "error")
                )
                continue
            if value is not None:
                _put(record, rule.path, value)
            notes.append(FieldExplanation(rule.name, rule.expression, value, None, note))

    def _finish(self, rule: FieldRule, value: Any) -> tuple[Any, str]:
        note = "expression"
        if value is None or (rule.has_default and value == ""):
            value, note = self._missing(rule)
        if rule.coerce is not None and value is not None:
            value = rule.coerce(value)
        return value, note

    def _evaluate_lets(
        self, root: dict[str, Any], scope: Scope, notes: list[FieldExplanation] | None
    ) -> None:
        for name, expression, evaluate in self._lets:
            try:
                value = evaluate(root, scope)
                error = None
            except RetryableError:
                raise
            except Exception as exc:  # kept, and raised again by every field that reads it
                error = describe_error(exc)
                value = LetFailure(name, error)
            scope.vars[name] = value
            if notes is not None:
                shown = None if error else value
                notes.append(FieldExplanation(f"let {name}", expression, shown, error, "let"))

    def _missing(self, rule: FieldRule) -> tuple[Any, str]:
        if rule.has_default:
            return rule.default, "default"
        if rule.optional:
            return None, "omitted (optional, no value)"
        raise MappingValueError(
            f"no value: {rule.expression} produced null and the field is required"
        )

    def _validate_model(self, record: dict[str, Any], errors: dict[str, str]) -> BaseModel | None:
        assert self._model is not None
        try:
            return self._model.model_validate(record)
        except ValidationError as exc:
            for item in exc.errors():
                where = ".".join(str(p) for p in item["loc"]) or "$record"
                errors[where] = item["msg"]
            return None

    def _fail(self, where: str, message: str) -> MappingResult:
        return MappingResult({}, {where: message}, (), self.ref)


def _put(record: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = record
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def compile_spec(
    spec: TemplateSpec, registry: FunctionRegistry, raw: Any
) -> tuple[CompiledTemplate | None, list[TemplateProblem]]:
    """Compile every field; on any problem return None and all problems (never half a template)."""
    problems = list(spec.problems)
    tables: dict[str, Mapping[str, Any]] = {**registry.tables, **spec.tables}
    defaults = {k: v["default"] for k, v in spec.context.items() if "default" in v}
    declared = frozenset(spec.context) if spec.context else None
    compiler = ExpressionCompiler(registry, tables, declared, defaults)
    lets: list[tuple[str, str, Evaluator]] = []
    for let in spec.lets:
        compiled, messages = compiler.compile(let.expression)
        problems.extend(
            TemplateProblem(spec.file, let.line, f"let.{let.name}", m) for m in messages
        )
        if compiled is not None:
            compiler.declare_let(let.name, compiled.info)
            lets.append((let.name, let.expression, compiled.evaluate))
    rules = [_compile_field(fs, compiler, spec.file, problems) for fs in spec.fields]
    if problems or spec.source is None or spec.target is None:
        return None, problems
    template = CompiledTemplate(
        spec, [r for r in rules if r is not None], registry=registry, tables=tables,
        fingerprint=_fingerprint(raw), lets=tuple(lets),
    )  # fmt: skip
    return template, []


def _compile_field(
    fs: FieldSpec, compiler: ExpressionCompiler, file: str, problems: list[TemplateProblem]
) -> FieldRule | None:
    compiled, messages = compiler.compile(fs.expression)
    for message in messages:
        problems.append(TemplateProblem(file, fs.line, fs.name, message))
    if compiled is None:
        return None
    default = decimal_literals(fs.default)
    return FieldRule(
        fs.name, fs.expression, fs.line, fs.optional, fs.has_default, default, fs.type,
        compiled.info, compiled.evaluate, _coercer(fs.type, compiled.info), fs.path,
    )  # fmt: skip


_TEXT_TYPES = frozenset({"string", "date", "datetime"})
_SCALAR_TYPES = _TEXT_TYPES | {"decimal", "integer", "boolean"}


def _coercer(declared: str | None, info: StaticInfo) -> Coercer | None:
    """Skip the output check when the expression's type already guarantees it (e.g. a literal)."""
    produced = info.type
    if declared is None and produced in _SCALAR_TYPES:
        return None
    if declared == produced or (declared in _TEXT_TYPES and produced in _TEXT_TYPES):
        return None
    return COERCERS[declared]


def _fingerprint(raw: Any) -> str:
    canonical = json.dumps(raw, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
