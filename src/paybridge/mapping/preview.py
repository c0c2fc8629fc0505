"""``mapping preview`` and the versioned dry run: show what a template makes of a sample, and
what a newer version would change, without writing anything anywhere."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from paybridge.mapping.enrich import Enricher
from paybridge.mapping.template import CompiledTemplate, MappingResult

_ABSENT: Any = object()


def render_json(value: Any, indent: int = 0) -> str:
    """JSON with Decimals as exact numbers (``12.30``), never through float."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(str(k))}: {render_json(v, indent + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + render_json(v, indent + 1) for v in value) + f"\n{pad}]"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return json.dumps(value, default=str)


def preview(
    template: CompiledTemplate,
    sample: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None = None,
    enricher: Enricher | None = None,
    explain: bool = False,
) -> str:
    """The mapped record and per-field errors, readable; with ``explain`` each field's expression
    and the value it produced."""
    result = template.apply(sample, context=context, enricher=enricher, explain=explain)
    lines = [f"template {template.ref}: {template.source} -> {template.target}", "record:"]
    lines.append("  " + render_json(result.record, 1))
    lines.extend(_errors(result))
    if explain:
        lines.append("explain:")
        for note in result.explain:
            shown = (
                f"ERROR {note.error}" if note.error else f"{render_json(note.value)} ({note.note})"
            )
            lines.append(f"  {note.field} = {note.expression}")
            lines.append(f"      -> {shown}")
    return "\n".join(lines)


def _errors(result: MappingResult) -> list[str]:
    if not result.errors:
        return ["errors: none"]
    return ["errors:"] + [f"  {field}: {message}" for field, message in result.errors.items()]


@dataclass(frozen=True)
class FieldDiff:
    """One target field whose value or error differs between two template versions."""

    field: str
    old: Any
    new: Any
    old_error: str | None = None
    new_error: str | None = None

    @property
    def change(self) -> str:
        if self.old is _ABSENT and self.old_error is None:
            return "added"
        if self.new is _ABSENT and self.new_error is None:
            return "removed"
        return "changed"


def dry_run_diff(
    old: CompiledTemplate,
    new: CompiledTemplate,
    source: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None = None,
    enricher: Enricher | None = None,
) -> list[FieldDiff]:
    """Re-map ``source`` (e.g. a ledgered event) with ``new`` and list what differs from ``old``.

    Nested records are compared by dotted field path. Nothing is written: this is the dry run.
    """
    before = old.apply(source, context=context, enricher=enricher)
    after = new.apply(source, context=context, enricher=enricher)
    left, right = _flatten(before.record), _flatten(after.record)
    diffs = []
    for name in list(dict.fromkeys([*left, *before.errors, *right, *after.errors])):
        o, n = left.get(name, _ABSENT), right.get(name, _ABSENT)
        oe, ne = before.errors.get(name), after.errors.get(name)
        if o != n or oe != ne or type(o) is not type(n):
            diffs.append(FieldDiff(name, o, n, oe, ne))
    return diffs


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def format_diff(old: CompiledTemplate, new: CompiledTemplate, diffs: list[FieldDiff]) -> str:
    """A readable dry-run report: ``-`` the old version's value, ``+`` the new one's."""
    header = f"dry run {old.ref} -> {new.ref}: "
    if not diffs:
        return header + "no differences"
    lines = [header + f"{len(diffs)} field(s) differ"]
    for diff in diffs:
        lines.append(f"  {diff.field} ({diff.change})")
        for sign, value, error in (
            ("-", diff.old, diff.old_error),
            ("+", diff.new, diff.new_error),
        ):
            if error is not None:
                lines.append(f"    {sign} ERROR {error}")
            elif value is not _ABSENT:
                lines.append(f"    {sign} {render_json(value)}")
    return "\n".join(lines)
