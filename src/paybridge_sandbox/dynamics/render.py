"""Entity payloads as F&O writes them: ``@odata.etag`` first, properties in type order, enums by
name, dates at 12:00:00Z, decimals as numbers; with ``odata.metadata=full`` the type, id, editLink,
per-property type annotations and navigation links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paybridge_sandbox.dynamics.literals import format_literal
from paybridge_sandbox.dynamics.schema import EntityDef, FieldDef
from paybridge_sandbox.dynamics.store import Row
from paybridge_sandbox.dynamics.values import etag, format_datetime

_FULL_TYPES = {
    "decimal": "#Decimal",
    "date": "#DateTimeOffset",
    "datetime": "#DateTimeOffset",
    "int": None,
    "guid": "#Guid",
    "binary": "#Binary",
}


@dataclass(frozen=True)
class Shape:
    """How to render rows: which properties, whether full metadata, the service root URL."""

    service_root: str  # e.g. https://host/data/
    select: tuple[str, ...] | None = None
    full: bool = False


def key_segment(entity: EntityDef, values: dict[str, Any]) -> str:
    inner = ",".join(f"{k}={format_literal(values[k])}" for k in entity.keys)
    return f"{entity.entity_set}({inner})"


def render_row(entity: EntityDef, row: Row, shape: Shape) -> dict[str, Any]:
    out: dict[str, Any] = {}
    values = row.values
    link = key_segment(entity, values) if shape.full else ""
    if shape.full:
        out["@odata.type"] = "#" + entity.qualified_type
        out["@odata.id"] = shape.service_root + link
    out["@odata.etag"] = etag(row.rec_version, row.rec_id, entity.etag_sources)
    if shape.full:
        out["@odata.editLink"] = link
    fields = entity.fields if shape.select is None else [entity.by_name[n] for n in shape.select]
    for fdef in fields:
        if shape.full:
            _annotate(out, fdef)
        value = values.get(fdef.name)
        out[fdef.name] = format_datetime(value) if isinstance(value, datetime) else value
    if shape.full and shape.select is None:
        for nav in entity.navigation:
            base = shape.service_root + link + "/" + nav.name
            out[f"{nav.name}@odata.associationLink"] = base + "/$ref"
            out[f"{nav.name}@odata.navigationLink"] = base
    return out


def _annotate(out: dict[str, Any], fdef: FieldDef) -> None:
    if fdef.kind == "enum":
        out[f"{fdef.name}@odata.type"] = "#" + fdef.edm_type
        return
    annotation = "#Int64" if fdef.edm_type == "Edm.Int64" else _FULL_TYPES.get(fdef.kind)
    if annotation:
        out[f"{fdef.name}@odata.type"] = annotation
