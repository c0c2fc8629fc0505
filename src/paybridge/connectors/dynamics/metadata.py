"""A small typed model of F&O's CSDL ``$metadata``: entity sets, types, keys, properties, enums."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_AX = "Microsoft.Dynamics.OData.Core.V1."


@dataclass(frozen=True)
class EdmProperty:
    """A structural property; ``type`` is ``Edm.*`` or a qualified enum type name."""

    name: str
    type: str
    nullable: bool = True
    is_required: bool = False
    allow_edit: bool = True
    allow_edit_on_create: bool = True
    is_enum: bool = False
    label_id: str | None = None


@dataclass(frozen=True)
class EdmNavigation:
    name: str
    target_type: str | None = None
    target_set: str | None = None
    collection: bool = False


@dataclass
class EdmEntityType:
    name: str
    keys: tuple[str, ...]
    properties: dict[str, EdmProperty]
    navigations: dict[str, EdmNavigation] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        """Properties the ``IsRequired`` annotation marks as needed on create."""
        return [p.name for p in self.properties.values() if p.is_required]


@dataclass(frozen=True)
class EdmEnumType:
    name: str
    members: dict[str, int]


@dataclass(frozen=True)
class EdmEntitySet:
    name: str
    entity_type: str
    bindings: dict[str, str]


@dataclass
class EdmModel:
    namespace: str
    container: str
    entity_sets: dict[str, EdmEntitySet]
    entity_types: dict[str, EdmEntityType]
    enum_types: dict[str, EdmEnumType]

    def entity_type_of(self, entity_set: str) -> EdmEntityType:
        """The entity type behind a set name (``CustomersV3`` -> ``CustomerV3``)."""
        qualified = self.entity_sets[entity_set].entity_type
        return self.entity_types[qualified.rsplit(".", 1)[-1]]


def _annotations(element: ET.Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for note in element.findall(f"{_EDM}Annotation"):
        term = note.get("Term", "")
        if term.startswith(_AX):
            value = note.get("Bool") or note.get("String")
            if value is None:
                member = note.find(f"{_EDM}EnumMember")
                value = member.text if member is not None and member.text else ""
            out[term.removeprefix(_AX)] = value
    return out


def _property(element: ET.Element, enum_names: set[str]) -> EdmProperty:
    notes = _annotations(element)
    edm_type = element.get("Type", "")
    return EdmProperty(
        name=element.get("Name", ""),
        type=edm_type,
        nullable=element.get("Nullable", "true").lower() != "false",
        is_required=notes.get("IsRequired", "false").lower() == "true",
        allow_edit=notes.get("AllowEdit", "true").lower() != "false",
        allow_edit_on_create=notes.get("AllowEditOnCreate", "true").lower() != "false",
        is_enum=edm_type.rsplit(".", 1)[-1] in enum_names and not edm_type.startswith("Edm."),
        label_id=notes.get("LabelId"),
    )


def _navigation(element: ET.Element) -> EdmNavigation:
    type_name = element.get("Type", "")
    collection = type_name.startswith("Collection(")
    target = type_name.removeprefix("Collection(").removesuffix(")") or None
    return EdmNavigation(element.get("Name", ""), target_type=target, collection=collection)


def _entity_type(element: ET.Element, enum_names: set[str]) -> EdmEntityType:
    keys = tuple(ref.get("Name", "") for ref in element.findall(f"{_EDM}Key/{_EDM}PropertyRef"))
    props = [_property(p, enum_names) for p in element.findall(f"{_EDM}Property")]
    navs = [_navigation(n) for n in element.findall(f"{_EDM}NavigationProperty")]
    return EdmEntityType(
        name=element.get("Name", ""),
        keys=keys,
        properties={p.name: p for p in props},
        navigations={n.name: n for n in navs},
    )


def _enum_type(element: ET.Element) -> EdmEnumType:
    members = {
        m.get("Name", ""): int(m.get("Value", str(i)))
        for i, m in enumerate(element.findall(f"{_EDM}Member"))
    }
    return EdmEnumType(element.get("Name", ""), members)


def parse_metadata(document: bytes | str) -> EdmModel:
    """Parse ``/data/$metadata`` (EDMX 4.0) of the ``Microsoft.Dynamics.DataEntities`` schema."""
    data = document.encode("utf-8") if isinstance(document, str) else document
    root = ET.fromstring(data.lstrip(b"\xef\xbb\xbf"))  # noqa: S314 - trusted, own environment
    schemas = root.iter(f"{_EDM}Schema")
    main = next((s for s in schemas if s.find(f"{_EDM}EntityContainer") is not None), None)
    if main is None:
        raise ValueError("$metadata holds no entity container")
    enums = {e.get("Name", ""): _enum_type(e) for e in main.findall(f"{_EDM}EnumType")}
    enum_names = set(enums)
    types = {}
    for element in main.findall(f"{_EDM}EntityType"):
        entity = _entity_type(element, enum_names)
        types[entity.name] = entity
    container = main.find(f"{_EDM}EntityContainer")
    assert container is not None
    sets: dict[str, EdmEntitySet] = {}
    for element in container.findall(f"{_EDM}EntitySet"):
        bindings = {
            b.get("Path", ""): b.get("Target", "")
            for b in element.findall(f"{_EDM}NavigationPropertyBinding")
        }
        entity_set = EdmEntitySet(element.get("Name", ""), element.get("EntityType", ""), bindings)
        sets[entity_set.name] = entity_set
        _attach_bindings(types, entity_set)
    return EdmModel(main.get("Namespace", ""), container.get("Name", ""), sets, types, enums)


def _attach_bindings(types: dict[str, EdmEntityType], entity_set: EdmEntitySet) -> None:
    # Trimmed documents keep the set's bindings but drop the type's NavigationProperty elements.
    entity = types.get(entity_set.entity_type.rsplit(".", 1)[-1])
    if entity is None:
        return
    for path, target in entity_set.bindings.items():
        known = entity.navigations.get(path)
        entity.navigations[path] = EdmNavigation(
            path,
            target_type=known.target_type if known else None,
            target_set=target,
            collection=known.collection if known else False,
        )
