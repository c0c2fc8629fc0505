"""D365 entity schemas as plain data: what ``check`` compares D365-bound templates with.

Mapping parses no XML: the application builds these from the Dynamics connector's ``$metadata``
model (``paybridge.app.schema``) and hands them in; ``schema_from_entity_json`` reads the
extracted-metadata JSON shape (reference data, tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldSchema:
    """One property: Edm or enum type name, and what D365 says about writing it."""

    name: str
    type: str
    nullable: bool = True
    required: bool = False
    read_only: bool = False
    read_only_on_create: bool = False
    enum_members: tuple[str, ...] | None = None
    is_key: bool = False

    @property
    def is_enum(self) -> bool:
        return self.enum_members is not None


@dataclass(frozen=True)
class EntitySchema:
    entity_set: str
    entity_type: str
    keys: tuple[str, ...]
    fields: Mapping[str, FieldSchema] = field(default_factory=dict)


def schema_from_entity_json(
    documents: Iterable[Mapping[str, Any]], enums: Mapping[str, Sequence[str]]
) -> dict[str, EntitySchema]:
    """Entity sets from the extracted-metadata JSON shape (``entitySet``, ``keys``, ``fields``).

    That shape carries no IsRequired/AllowEdit annotations; pass ``required``/``readOnly`` lists in
    a document to add them.
    """
    result: dict[str, EntitySchema] = {}
    for doc in documents:
        keys = tuple(doc.get("keys", ()))
        required, read_only = set(doc.get("required", ())), set(doc.get("readOnly", ()))
        fields = {}
        for item in doc.get("fields", ()):
            type_name = str(item["type"])
            members = enums.get(type_name.rsplit(".", 1)[-1]) if item.get("enum") else None
            fields[item["name"]] = FieldSchema(
                name=item["name"], type=type_name, nullable=bool(item.get("nullable", True)),
                required=item["name"] in required, read_only=item["name"] in read_only,
                enum_members=tuple(members) if members is not None else None,
                is_key=item["name"] in keys,
            )  # fmt: skip
        name = str(doc["entitySet"])
        result[name] = EntitySchema(name, str(doc.get("entityType", name)), keys, fields)
    return result
