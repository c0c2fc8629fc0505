"""The mapping designer's pure half: a sample's source fields, a template's YAML rewritten with
new field assignments as a new version, and the text diff between two versions."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import yaml

from paybridge.mapping.errors import TemplateError, TemplateProblem

MAX_FIELDS = 400
MAX_DEPTH = 8


def source_fields(
    sample: Mapping[str, Any], prefix: str = "", depth: int = 0
) -> list[tuple[str, str]]:
    """Every leaf of ``sample`` as (JMESPath-style dotted path, its value as JSON), in order;
    objects deeper than ``MAX_DEPTH`` are shown whole."""
    out: list[tuple[str, str]] = []
    for key, value in sample.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and depth < MAX_DEPTH:
            out.extend(source_fields(value, f"{path}.", depth + 1))
        else:
            out.append((path, _shown(value)))
        if len(out) >= MAX_FIELDS:
            break
    return out[:MAX_FIELDS]


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    try:
        return json.dumps(value, default=str, ensure_ascii=False)[:200]
    except RecursionError:
        return "(nested too deeply to show)"


def source_path(path: str) -> str:
    """A dotted path as a JMESPath expression: segments that are not plain names are quoted."""
    parts = []
    for part in path.split("."):
        plain = part.replace("_", "a").isalnum() and not part[:1].isdigit()
        parts.append(part if plain else json.dumps(part))
    return ".".join(parts)


def assignment(source: str, function: str, expression: str) -> str:
    """What one target field gets from the designer's three controls: a source picked wins (through
    the one-argument function when one is picked too); else the expression typed; else nothing."""
    if source.strip():
        path = source_path(source.strip())
        return f"{function.strip()}({path})" if function.strip() else path
    return expression.strip()


def new_version_text(
    text: str, version: int, assignments: Mapping[str, str | None], note: str = ""
) -> str:
    """``text`` (a template's YAML) as ``version`` with each field of ``assignments`` set to its
    expression (``None`` drops the field). A field written as a mapping keeps its other keys
    (type, optional, default). Raises ``TemplateError`` when ``text`` is not a template."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError([TemplateProblem("<draft>", None, "", f"not YAML: {exc}")]) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
        raise TemplateError([TemplateProblem("<draft>", None, "fields", "no fields: mapping")])
    doc["version"] = version
    fields: dict[str, Any] = doc["fields"]
    for name, expression in assignments.items():
        if expression is None:
            fields.pop(name, None)
        elif isinstance(fields.get(name), dict):
            fields[name]["expr"] = expression
        else:
            fields[name] = expression
    header = f"# {doc.get('name', 'template')} version {version}" + (f": {note}" if note else "")
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return f"{header}\n{body}"


def normalized(text: str) -> str:
    """A template's YAML as the designer writes it (comments and layout dropped), so that a diff
    shows what changed in meaning, not in layout; the text itself when it is not YAML."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(doc, dict):
        doc.pop("version", None)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def text_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two versions' YAML, versions and layout aside (empty: no change)."""
    lines = difflib.unified_diff(
        normalized(old).splitlines(keepends=True), normalized(new).splitlines(keepends=True),
        old_name, new_name, n=2,
    )  # fmt: skip
    return "".join(lines)
