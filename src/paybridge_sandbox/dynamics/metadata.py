"""``/data/$metadata`` (EDMX 4.0 CSDL), the ``/data/`` service document, and the REST metadata
service ``/Metadata/DataEntities``, ``/Metadata/PublicEntities('..')``,
``/Metadata/PublicEnumerations``, all generated from the loaded schema.

The CSDL follows the real F&O document: namespace ``Microsoft.Dynamics.DataEntities``, container
``Resources``, enum types, ``Nullable="false"`` on keys and non-string scalars, and the
``Microsoft.Dynamics.OData.Core.V1`` annotations ``IsRequired``/``AllowEdit``/
``AllowEditOnCreate``/``AXType`` (labels are given as text, not label ids).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from paybridge_sandbox.dynamics.schema import NAMESPACE, EntityDef, FieldDef, Schema

CORE = "Microsoft.Dynamics.OData.Core.V1"
_AX_TYPES = {
    "string": "String",
    "decimal": "Real",
    "int": "Int64",
    "date": "Date",
    "datetime": "UtcDateTime",
    "enum": "Enum",
    "guid": "Guid",
    "binary": "Container",
}


def _annotation(term: str, kind: str, value: str) -> str:
    return f'<Annotation Term="{CORE}.{term}" {kind}={quoteattr(value)} />'


def _property(entity: EntityDef, fdef: FieldDef) -> str:
    nullable = ' Nullable="false"' if not fdef.nullable else ""
    notes = [_annotation("LabelId", "String", fdef.label)]
    if fdef.name in entity.required:
        notes.append(_annotation("IsRequired", "Bool", "true"))
    if fdef.name in entity.server_fields or entity.read_only:
        notes.append(_annotation("AllowEdit", "Bool", "false"))
        notes.append(_annotation("AllowEditOnCreate", "Bool", "false"))
    ax = _AX_TYPES[fdef.kind] if fdef.edm_type != "Edm.Int32" else "Int32"
    notes.append(
        f'<Annotation Term="{CORE}.AXType"><EnumMember>{CORE}.AXType/{ax}</EnumMember></Annotation>'
    )
    return (
        f'<Property Name="{fdef.name}" Type="{fdef.edm_type}"{nullable}>'
        + "".join(notes)
        + "</Property>"
    )


def _entity_type(entity: EntityDef, schema: Schema) -> str:
    keys = "".join(f'<PropertyRef Name="{k}" />' for k in entity.keys)
    props = "".join(_property(entity, f) for f in entity.fields)
    navs = "".join(
        f'<NavigationProperty Name="{n.name}" Type="'
        + (
            f"Collection({NAMESPACE}.{schema.sets[n.target].entity_type})"
            if n.many
            else f'{NAMESPACE}.{schema.sets[n.target].entity_type}" Nullable="true'
        )
        + '">'
        + "".join(
            f'<ReferentialConstraint Property="{src}" ReferencedProperty="{dst}" />'
            for dst, src in n.on
            if not n.many
        )
        + "</NavigationProperty>"
        for n in entity.navigation
    )
    label = _annotation("LabelId", "String", entity.entity_type)
    return (
        f'<EntityType Name="{entity.entity_type}"><Key>{keys}</Key>{props}{navs}{label}'
        "</EntityType>"
    )


def _enum_type(name: str, members: tuple[tuple[str, int], ...]) -> str:
    body = "".join(f'<Member Name="{m}" Value="{v}" />' for m, v in members)
    return f'<EnumType Name="{name}">{body}</EnumType>'


_CACHE: dict[int, str] = {}


def metadata_xml(schema: Schema) -> str:
    """The CSDL document (built once per schema: it is immutable)."""
    cached = _CACHE.get(id(schema))
    if cached is None:
        cached = _CACHE[id(schema)] = _build_metadata(schema)
    return cached


def _build_metadata(schema: Schema) -> str:
    enums = "".join(_enum_type(n, schema.enums[n]) for n in schema.used_enums())
    types = "".join(_entity_type(e, schema) for e in schema.sets.values())
    sets = "".join(
        f'<EntitySet Name="{e.entity_set}" EntityType="{e.qualified_type}">'
        + "".join(
            f'<NavigationPropertyBinding Path="{n.name}" Target="{n.target}" />'
            for n in e.navigation
        )
        + "</EntitySet>"
        for e in schema.sets.values()
    )
    ax_members = "".join(
        f'<Member Name="{m}" Value="{i}" />'
        for i, m in enumerate(
            [
                "Container",
                "Date",
                "Enum",
                "Guid",
                "Int32",
                "Int64",
                "Real",
                "Record",
                "String",
                "Time",
                "UtcDateTime",
                "Void",
            ]
        )
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
        "<edmx:DataServices>"
        f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        f'{enums}{types}<EntityContainer Name="Resources">{sets}</EntityContainer></Schema>'
        f'<Schema Namespace="{CORE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        f'<EnumType Name="AXType">{ax_members}</EnumType></Schema>'
        "</edmx:DataServices></edmx:Edmx>"
    )


def service_document(schema: Schema, service_root: str) -> dict[str, Any]:
    return {
        "@odata.context": service_root + "$metadata",
        "value": [
            {"name": e.entity_set, "kind": "EntitySet", "url": e.entity_set}
            for e in schema.sets.values()
        ],
    }


# ---- REST metadata service (/Metadata) ----------------------------------------------------


def data_entities(schema: Schema, root: str) -> dict[str, Any]:
    rows = [
        {
            "Name": e.aot_name,
            "PublicEntityName": e.entity_type,
            "PublicCollectionName": e.entity_set,
            "LabelId": e.entity_type,
            "DataServiceEnabled": True,
            "DataManagementEnabled": True,
            "EntityCategory": e.category,
            "IsReadOnly": e.read_only,
        }
        for e in schema.sets.values()
    ]
    return {"@odata.context": root + "$metadata#DataEntities", "value": rows}


def public_entity(schema: Schema, root: str, name: str) -> dict[str, Any] | None:
    entity = next((e for e in schema.sets.values() if e.entity_type == name), None)
    if entity is None:
        return None
    props = [
        {
            "Name": f.name,
            "TypeName": f.enum_name or f.edm_type,
            "DataType": _AX_TYPES[f.kind],
            "LabelId": f.label,
            "IsKey": f.name in entity.keys,
            "IsMandatory": f.name in entity.required,
            "AllowEdit": f.name not in entity.server_fields and not entity.read_only,
            "AllowEditOnCreate": f.name not in entity.server_fields and not entity.read_only,
            "IsDimension": False,
            "DimensionRelation": "",
            "IsDynamicDimension": False,
            "DimensionLegalEntityProperty": "",
            "DimensionTypeProperty": "",
        }
        for f in entity.fields
    ]
    navs = [
        {
            "Name": n.name,
            "RelatedEntity": _public_name(schema, n.target),
            "RelatedRelationName": "",
            "Cardinality": "Multiple" if n.many else "Single",
            "Constraints": [{"Property": s, "RelatedProperty": t} for t, s in n.on],
        }
        for n in entity.navigation
    ]
    return {
        "@odata.context": root + "$metadata#PublicEntities/$entity",
        "Name": entity.entity_type,
        "EntitySetName": entity.entity_set,
        "LabelId": entity.entity_type,
        "IsReadOnly": entity.read_only,
        "ConfigurationEnabled": True,
        "Properties": props,
        "NavigationProperties": navs,
        "PropertyGroups": [],
        "Actions": [],
    }


def _public_name(schema: Schema, entity_set: str) -> str:
    return schema.sets[entity_set].entity_type


def public_enumerations(schema: Schema, root: str) -> dict[str, Any]:
    rows = [
        {
            "Name": n,
            "LabelId": n,
            "Members": [{"Name": m, "Value": v, "LabelId": m} for m, v in schema.enums[n]],
        }
        for n in schema.used_enums()
    ]
    return {"@odata.context": root + "$metadata#PublicEnumerations", "value": rows}
