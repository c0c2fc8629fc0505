"""The template file format: checks a parsed YAML document and turns it into a ``TemplateSpec``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from paybridge.mapping.errors import TemplateProblem
from paybridge.mapping.targets import Endpoint, parse_endpoint, target_field_problem
from paybridge.mapping.yamlspec import LocatedDocument

OUTPUT_TYPES = (
    "string",
    "decimal",
    "integer",
    "boolean",
    "date",
    "datetime",
    "object",
    "list",
    "any",
)
_TOP_KEYS = {"name", "version", "description", "source", "target", "operation", "context",
             "tables", "let", "fields"}  # fmt: skip
_FIELD_KEYS = {"expr", "optional", "default", "type", "description"}
_CONTEXT_KEYS = {"description", "default"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    expression: str
    line: int | None
    optional: bool = False
    has_default: bool = False
    default: Any = None
    type: str | None = None
    description: str = ""

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))


@dataclass
class TemplateSpec:
    """A template as written, before its expressions are compiled."""

    file: str
    name: str = ""
    version: int = 0
    description: str = ""
    source: Endpoint | None = None
    target: Endpoint | None = None
    operation: str = "create"
    context: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    lets: list[FieldSpec] = field(default_factory=list)
    fields: list[FieldSpec] = field(default_factory=list)
    problems: list[TemplateProblem] = field(default_factory=list)


class _Reader:
    def __init__(self, doc: LocatedDocument, file: str) -> None:
        self.doc = doc
        self.spec = TemplateSpec(file=file)

    def problem(self, path: tuple[str, ...], message: str) -> None:
        line = self.doc.line(*path)
        label = ".".join(path[1:] if path[:1] == ("fields",) and len(path) > 1 else path)
        self.spec.problems.append(TemplateProblem(self.spec.file, line, label, message))


def read_spec(doc: LocatedDocument, file: str) -> TemplateSpec:
    """Every schema problem of the document, each with its line; never stops at the first."""
    reader = _Reader(doc, file)
    data = doc.value
    if not isinstance(data, dict):
        reader.problem((), "a template is a mapping with name, version, source, target and fields")
        return reader.spec
    for key in sorted(set(data) - _TOP_KEYS):
        reader.problem((key,), f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    _read_header(reader, data)
    _read_context(reader, data.get("context", {}))
    _read_tables(reader, data.get("tables", {}))
    _read_lets(reader, data.get("let", {}))
    _read_fields(reader, data.get("fields"))
    return reader.spec


def _read_header(reader: _Reader, data: dict[str, Any]) -> None:
    spec = reader.spec
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        reader.problem(("name",), "name is required: lower case letters, digits and underscores")
    else:
        spec.name = name
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        reader.problem(("version",), "version is required: a whole number from 1 up")
    else:
        spec.version = version
    description = data.get("description", "")
    spec.description = description if isinstance(description, str) else str(description)
    for role in ("source", "target"):
        endpoint, error = parse_endpoint(data.get(role), role)
        if error:
            reader.problem((role,), error)
        setattr(spec, role, endpoint)
    operation = data.get("operation", "create")
    if operation not in ("create", "update"):
        reader.problem(("operation",), "operation is 'create' or 'update'")
    else:
        spec.operation = operation


def _read_context(reader: _Reader, context: Any) -> None:
    if not isinstance(context, dict):
        reader.problem(("context",), "context maps each value's name to a description")
        return
    for name, entry in context.items():
        if isinstance(entry, str) or entry is None:
            reader.spec.context[name] = {"description": entry or ""}
        elif isinstance(entry, dict) and set(entry) <= _CONTEXT_KEYS:
            reader.spec.context[name] = dict(entry)
        else:
            reader.problem(("context", name), "a description, or a mapping of description/default")


def _read_tables(reader: _Reader, tables: Any) -> None:
    if not isinstance(tables, dict):
        reader.problem(("tables",), "tables maps each table's name to a mapping of key: value")
        return
    for name, table in tables.items():
        if not isinstance(table, dict) or not table:
            reader.problem(("tables", name), "a table is a non-empty mapping of key: value")
            continue
        reader.spec.tables[name] = {str(k): v for k, v in table.items()}


def _read_lets(reader: _Reader, lets: Any) -> None:
    """``let:`` names values computed once per apply (read with ``var('name')``), in order."""
    if not isinstance(lets, dict):
        reader.problem(("let",), "let maps each name to an expression")
        return
    for name, expression in lets.items():
        if not _NAME.match(name) or not isinstance(expression, str):
            reader.problem(("let", name), "a let is a lower-case name and an expression string")
            continue
        reader.spec.lets.append(FieldSpec(name, expression, reader.doc.line("let", name)))


def _read_fields(reader: _Reader, fields: Any) -> None:
    if not isinstance(fields, dict) or not fields:
        reader.problem(("fields",), "fields is required: a mapping of target field -> expression")
        return
    for name, entry in fields.items():
        parsed = _read_field(reader, name, entry)
        if parsed is not None:
            reader.spec.fields.append(parsed)


def _read_field(reader: _Reader, name: str, entry: Any) -> FieldSpec | None:
    where = ("fields", name)
    line = reader.doc.line(*where)
    target = reader.spec.target
    if target is not None:
        problem = target_field_problem(target, tuple(name.split(".")))
        if problem:
            reader.problem(where, problem)
    if isinstance(entry, str):
        return FieldSpec(name, entry, line)
    if not isinstance(entry, dict):
        reader.problem(where, "a field is an expression string or a mapping with 'expr'")
        return None
    for key in sorted(set(entry) - _FIELD_KEYS):
        reader.problem((*where, key), f"unknown key (allowed: {', '.join(sorted(_FIELD_KEYS))})")
    ok = True
    if not isinstance(entry.get("expr"), str):
        reader.problem(where, "'expr' is required and must be a string")
        ok = False
    if not isinstance(entry.get("optional", False), bool):
        reader.problem((*where, "optional"), "optional is true or false")
        ok = False
    declared = entry.get("type")
    if declared is not None and declared not in OUTPUT_TYPES:
        reader.problem((*where, "type"), f"type is one of {', '.join(OUTPUT_TYPES)}")
        ok = False
    if not ok:
        return None
    return FieldSpec(
        name, entry["expr"], line, entry.get("optional", False), "default" in entry,
        entry.get("default"), declared, str(entry.get("description", "")),
    )  # fmt: skip
