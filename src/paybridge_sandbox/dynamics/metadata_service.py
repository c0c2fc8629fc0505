"""F&O's REST metadata service, ``/Metadata``: ``DataEntities``, ``PublicEntities`` (collection
and ``('Name')``), ``PublicEnumerations`` (collection and ``('Name')``) and ``Labels(Id,Language)``,
with ``$filter`` (the ``/data`` grammar: eq/ne/gt/ge/lt/le, and/or/not, ``*`` wildcards),
``$select``, ``$top``, ``$skip`` and ``$count``. Labels are served as text (the label id is the
text itself, in every language), since the sandbox has no label files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from paybridge_sandbox.dynamics.errors import ODataError, bad_request
from paybridge_sandbox.dynamics.filters import compile_filter
from paybridge_sandbox.dynamics.metadata import data_entities, public_entity, public_enumerations
from paybridge_sandbox.dynamics.schema import NAMESPACE, EntityDef, FieldDef, Schema

_COLUMNS: dict[str, dict[str, str]] = {
    "DataEntities": {
        "Name": "Edm.String", "PublicEntityName": "Edm.String", "PublicCollectionName": "Edm.String",
        "LabelId": "Edm.String", "DataServiceEnabled": "Edm.Boolean",
        "DataManagementEnabled": "Edm.Boolean", "EntityCategory": "Edm.String",
        "IsReadOnly": "Edm.Boolean",
    },
    "PublicEntities": {
        "Name": "Edm.String", "EntitySetName": "Edm.String", "LabelId": "Edm.String",
        "IsReadOnly": "Edm.Boolean", "ConfigurationEnabled": "Edm.Boolean",
    },
    "PublicEnumerations": {"Name": "Edm.String", "LabelId": "Edm.String"},
}  # fmt: skip


def _row_type(collection: str) -> EntityDef:
    fields = tuple(
        FieldDef(name, edm, "string", True, name) for name, edm in _COLUMNS[collection].items()
    )
    by_name = {f.name: f for f in fields}
    return EntityDef(
        entity_set=collection, entity_type=collection.rstrip("s"), aot_name=collection,
        category="Reference", keys=("Name",), fields=fields, navigation=(), read_only=True,
        required=frozenset(), server_fields=frozenset(), enum_defaults={}, etag_sources=0,
        by_name=by_name, by_folded={n.casefold(): f for n, f in by_name.items()},
    )  # fmt: skip


def _rows(schema: Schema, root: str, collection: str) -> list[dict[str, Any]]:
    if collection == "DataEntities":
        return list(data_entities(schema, root)["value"])
    if collection == "PublicEnumerations":
        return list(public_enumerations(schema, root)["value"])
    rows = []
    for entity in schema.sets.values():
        row = public_entity(schema, root, entity.entity_type)
        if row is not None:
            rows.append({k: v for k, v in row.items() if not k.startswith("@")})
    return rows


def _select(rows: list[dict[str, Any]], value: str) -> list[dict[str, Any]]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    return [{n: row[n] for n in names if n in row} for row in rows]


def _number(name: str, value: str) -> int:
    if not value.isdigit():
        raise bad_request(f"The value '{value}' of {name} is not a non-negative integer.")
    return int(value)


def collection(schema: Schema, root: str, name: str, query: str) -> dict[str, Any]:
    """One ``/Metadata`` collection read with its query options."""
    rows = _rows(schema, root, name)
    params = dict(parse_qsl(query, keep_blank_values=True))
    if "$filter" in params:
        predicate = compile_filter(params["$filter"], _row_type(name), schema).predicate
        rows = [row for row in rows if predicate(row)]
    total = len(rows)
    rows = rows[_number("$skip", params["$skip"]) :] if "$skip" in params else rows
    rows = rows[: _number("$top", params["$top"])] if "$top" in params else rows
    if "$select" in params:
        rows = _select(rows, params["$select"])
    payload: dict[str, Any] = {"@odata.context": f"{root}$metadata#{name}"}
    if params.get("$count") == "true":
        payload["@odata.count"] = total
    payload["value"] = rows
    return payload


def _quoted(text: str) -> str | None:
    return text[1:-1].replace("''", "'") if len(text) >= 2 and text[0] == text[-1] == "'" else None


def label(root: str, arguments: str) -> dict[str, Any] | None:
    """``Labels(Id='@SYS1',Language='en-us')``: the sandbox's labels are their own text."""
    parts = dict(p.split("=", 1) for p in arguments.split(",") if "=" in p)
    label_id = _quoted(parts.get("Id", "").strip())
    language = _quoted(parts.get("Language", "'en-us'").strip())
    if label_id is None or language is None:
        return None
    return {
        "@odata.context": f"{root}$metadata#Labels/$entity",
        "Id": label_id, "Language": language, "Value": label_id.lstrip("@"),
    }  # fmt: skip


def serve(schema: Schema, root: str, path: str, query: str) -> dict[str, Any]:
    """The payload of ``/Metadata/<path>?<query>``; ODataError 404 for anything else."""
    handlers: dict[str, Callable[[str], dict[str, Any] | None]] = {
        "PublicEntities": lambda key: public_entity(schema, root, key),
        "PublicEnumerations": lambda key: _enumeration(schema, root, key),
    }
    if path in _COLUMNS:
        return collection(schema, root, path, query)
    head, _, rest = path.partition("(")
    if rest.endswith(")"):
        inner = rest[:-1]
        found: dict[str, Any] | None = None
        if head == "Labels":
            found = label(root, inner)
        elif head in handlers and _quoted(inner) is not None:
            found = handlers[head](str(_quoted(inner)))
        if found is not None:
            return found
    raise ODataError(404, f"Resource not found for the segment '{path}'.")


def _enumeration(schema: Schema, root: str, name: str) -> dict[str, Any] | None:
    for row in public_enumerations(schema, root)["value"]:
        if row["Name"] == name:
            context = f"{root}$metadata#PublicEnumerations/$entity"
            return {"@odata.context": context, **row}
    return None


__all__ = ["NAMESPACE", "collection", "label", "serve"]
