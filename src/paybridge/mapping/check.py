"""``mapping check``: every D365-bound template against the target's metadata, before any data."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from paybridge.mapping.functions import (
    ANY,
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    INTEGER,
    STRING,
)  # fmt: skip
from paybridge.mapping.schema import EntitySchema, FieldSchema
from paybridge.mapping.template import CompiledTemplate, FieldRule

_TEXT = frozenset({STRING, DATE, DATETIME})
_ACCEPTS: dict[str, frozenset[str]] = {
    "Edm.String": _TEXT,
    "Edm.Guid": frozenset({STRING}),
    "Edm.Decimal": frozenset({DECIMAL, INTEGER}),
    "Edm.Double": frozenset({DECIMAL, INTEGER}),
    "Edm.Int16": frozenset({INTEGER}),
    "Edm.Int32": frozenset({INTEGER}),
    "Edm.Int64": frozenset({INTEGER}),
    "Edm.Byte": frozenset({INTEGER}),
    "Edm.Boolean": frozenset({BOOLEAN}),
    "Edm.DateTimeOffset": frozenset({DATE, DATETIME}),
    "Edm.Date": frozenset({DATE}),
}


@dataclass(frozen=True)
class CheckProblem:
    template: str
    file: str
    line: int | None
    field: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.template}: {self.field}: {self.message}"


def check_templates(
    templates: Iterable[CompiledTemplate], schema: Mapping[str, EntitySchema]
) -> list[CheckProblem]:
    return [p for t in templates for p in check_template(t, schema)]


def check_template(
    template: CompiledTemplate, schema: Mapping[str, EntitySchema]
) -> list[CheckProblem]:
    """Problems of a D365-bound template against ``schema``; other targets have none to check."""
    if template.target.system != "d365":
        return []
    entity = schema.get(template.target.name)
    if entity is None:
        return [_problem(template, None, "target", "unknown-entity-set",
                         f"D365 has no entity set {template.target.name!r} in $metadata"
                         f"{_hint(template.target.name, schema)}")]  # fmt: skip
    problems: list[CheckProblem] = []
    for rule in template.fields:
        found = entity.fields.get(rule.name)
        if found is None:
            problems.append(_unknown_field(template, rule, entity))
        else:
            problems.extend(_field_problems(template, rule, found, entity))
    problems.extend(_missing_fields(template, entity))
    return problems


def _unknown_field(
    template: CompiledTemplate, rule: FieldRule, entity: EntitySchema
) -> CheckProblem:
    return _problem(template, rule, rule.name, "unknown-field",
                    f"{entity.entity_set} has no field {rule.name!r} in $metadata"
                    f"{_hint(rule.name, entity.fields)}; if it is a custom field, add it to the "
                    f"D365 entity (an extension) or remove it from the template")  # fmt: skip


def _field_problems(
    template: CompiledTemplate, rule: FieldRule, found: FieldSchema, entity: EntitySchema
) -> list[CheckProblem]:
    problems = []
    creating = template.operation == "create"
    if found.read_only or (creating and found.read_only_on_create):
        flag = "AllowEdit=false" if found.read_only else "AllowEditOnCreate=false"
        problems.append(_problem(template, rule, rule.name, "read-only",
                                 f"{entity.entity_set}.{rule.name} is read-only ({flag}); "
                                 f"D365 maintains it"))  # fmt: skip
    produced = rule.declared_type or rule.info.type
    expected = _ACCEPTS.get(found.type, frozenset({STRING})) if not found.is_enum else {STRING}
    if produced not in (ANY, "null") and produced not in expected:
        problems.append(_problem(template, rule, rule.name, "wrong-type",
                                 f"{entity.entity_set}.{rule.name} is {found.type} but the "
                                 f"expression produces {produced}"))  # fmt: skip
    if found.enum_members is not None:
        problems.extend(_enum_problems(template, rule, found))
    return problems


def _enum_problems(
    template: CompiledTemplate, rule: FieldRule, found: FieldSchema
) -> list[CheckProblem]:
    members = found.enum_members or ()
    values = set(rule.info.values or ())
    if rule.has_default:
        values.add(rule.default)
    enum = found.type.rsplit(".", 1)[-1]
    return [
        _problem(template, rule, rule.name, "unknown-enum-value",
                 f"{value!r} is not a member of enum {enum} (members: {', '.join(members)})")
        for value in sorted(values, key=repr)
        if value not in members
    ]  # fmt: skip


def _missing_fields(template: CompiledTemplate, entity: EntitySchema) -> list[CheckProblem]:
    mapped = {rule.name for rule in template.fields}
    if template.operation == "update":
        wanted = [k for k in entity.keys if k not in mapped]
        reason = "an update is addressed by the entity's keys"
    else:
        wanted = [f.name for f in entity.fields.values() if f.required and f.name not in mapped]
        reason = "D365 requires it on create (IsRequired)"
    return [
        _problem(template, None, name, "missing-required",
                 f"{entity.entity_set}.{name} is not mapped but {reason}")
        for name in wanted
    ]  # fmt: skip


def _problem(
    template: CompiledTemplate, rule: FieldRule | None, field: str, code: str, message: str
) -> CheckProblem:
    line = rule.line if rule is not None else None
    return CheckProblem(template.ref, template.file, line, field, code, message)


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
