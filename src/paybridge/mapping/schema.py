"""D365 entity schemas as plain data, read from a CSDL ``$metadata`` document or entity JSON."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_ANNOTATION = f"{_EDM}Annotation"


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


def schema_from_csdl(xml_text: str | bytes) -> dict[str, EntitySchema]:
    """Entity sets of a CSDL (EDMX 4.0) document, as D365's ``/data/$metadata`` returns it."""
    if isinstance(xml_text, str):
        xml_text = xml_text.lstrip("\ufeff").encode("utf-8")
    root = ET.fromstring(xml_text.lstrip(b"\xef\xbb\xbf"))  # noqa: S314 - see the import
    enums: dict[str, tuple[str, ...]] = {}
    types: dict[str, Any] = {}
    for schema in root.iter(f"{_EDM}Schema"):
        namespace = schema.get("Namespace", "")
        for enum in schema.findall(f"{_EDM}EnumType"):
            members = tuple(m.get("Name", "") for m in enum.findall(f"{_EDM}Member"))
            enums[f"{namespace}.{enum.get('Name')}"] = members
        for entity in schema.findall(f"{_EDM}EntityType"):
            types[f"{namespace}.{entity.get('Name')}"] = entity
    result: dict[str, EntitySchema] = {}
    for entity_set in root.iter(f"{_EDM}EntitySet"):
        type_name = entity_set.get("EntityType", "")
        element = types.get(type_name)
        if element is not None:
            name = entity_set.get("Name", "")
            result[name] = _entity_from_xml(name, type_name, element, enums)
    return result


def _entity_from_xml(
    name: str, type_name: str, element: Any, enums: Mapping[str, tuple[str, ...]]
) -> EntitySchema:
    keys = tuple(ref.get("Name", "") for ref in element.iter(f"{_EDM}PropertyRef"))
    fields: dict[str, FieldSchema] = {}
    for prop in element.findall(f"{_EDM}Property"):
        notes = {
            a.get("Term", "").rsplit(".", 1)[-1]: a.get("Bool")
            for a in prop.findall(_ANNOTATION)
            if a.get("Bool") is not None
        }
        prop_type = prop.get("Type", "")
        fields[prop.get("Name", "")] = FieldSchema(
            name=prop.get("Name", ""),
            type=prop_type,
            nullable=prop.get("Nullable", "true") != "false",
            required=notes.get("IsRequired") == "true",
            read_only=notes.get("AllowEdit") == "false",
            read_only_on_create=notes.get("AllowEditOnCreate") == "false",
            enum_members=enums.get(prop_type),
            is_key=prop.get("Name", "") in keys,
        )
    return EntitySchema(name, type_name, keys, fields)


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
