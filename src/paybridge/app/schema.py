"""D365's ``$metadata`` as the entity schemas ``mapping check`` compares templates with.

One CSDL parser: the Dynamics connector's (``parse_metadata`` -> ``EdmModel``). Mapping parses
no XML; this module turns the connector's model into mapping's ``EntitySchema``s and hands them in.
"""

from __future__ import annotations

from xml.etree.ElementTree import ParseError

from paybridge.connectors.dynamics import EdmModel, parse_metadata
from paybridge.errors import DataError
from paybridge.mapping import EntitySchema, FieldSchema


def entity_schemas(model: EdmModel) -> dict[str, EntitySchema]:
    """Every entity set of the model whose type it holds, by set name (``CustomersV3``)."""
    schemas: dict[str, EntitySchema] = {}
    for name, entity_set in model.entity_sets.items():
        entity = model.entity_types.get(entity_set.entity_type.rsplit(".", 1)[-1])
        if entity is None:
            continue
        fields = {}
        for prop in entity.properties.values():
            enum = model.enum_types.get(prop.type.rsplit(".", 1)[-1]) if prop.is_enum else None
            fields[prop.name] = FieldSchema(
                name=prop.name, type=prop.type, nullable=prop.nullable,
                required=prop.is_required, read_only=not prop.allow_edit,
                read_only_on_create=not prop.allow_edit_on_create,
                enum_members=tuple(enum.members) if enum is not None else None,
                is_key=prop.name in entity.keys,
            )  # fmt: skip
        schemas[name] = EntitySchema(name, entity_set.entity_type, entity.keys, fields)
    return schemas


def metadata_schemas(document: bytes | str) -> dict[str, EntitySchema]:
    """The entity schemas of a ``$metadata`` document; a ``DataError`` when it is not one."""
    try:
        model = parse_metadata(document)
    except (ParseError, ValueError) as exc:
        raise DataError(
            f"not a D365 $metadata document: {exc}",
            fields={"metadata": str(exc)}, system="d365", operation="read $metadata",
        ) from exc  # fmt: skip
    return entity_schemas(model)
