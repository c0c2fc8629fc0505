"""Entity-set definitions loaded once from the package's ``entities/`` data files.

The field lists are copies of ``shared/specs/d365-entities`` (derived from a real F&O
``$metadata``); ``_catalog.json`` adds what those lists lack (entity type, AOT name, required and
server-maintained properties, navigation joins) and ``_defaults.json`` holds the enum defaults and
UtcDateTime fields read off real recorded responses. Everything else in the sandbox is driven
from these definitions: one engine, not one handler per entity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any, Literal

NAMESPACE = "Microsoft.Dynamics.DataEntities"
ENUM_PREFIX = NAMESPACE + "."

FieldKind = Literal["string", "decimal", "int", "date", "datetime", "enum", "guid", "binary"]

_EDM_KINDS: dict[str, FieldKind] = {
    "Edm.String": "string",
    "Edm.Decimal": "decimal",
    "Edm.Int32": "int",
    "Edm.Int64": "int",
    "Edm.Guid": "guid",
    "Edm.Binary": "binary",
}
# Date-only AX fields are DateTimeOffset in EDM; these name endings carry a real time of day.
_UTC_SUFFIXES = ("DateTime", "ValidFrom", "ValidTo", "CreatedOn", "ModifiedOn")


@dataclass(frozen=True)
class FieldDef:
    """One property of an entity type."""

    name: str
    edm_type: str
    kind: FieldKind
    nullable: bool
    label: str
    enum_name: str | None = None

    @property
    def is_key_capable(self) -> bool:
        return self.kind in {"string", "decimal", "int", "date", "datetime", "enum"}


@dataclass(frozen=True)
class NavDef:
    """A navigation property the sandbox serves, with its join (target field -> source field)."""

    name: str
    target: str
    many: bool
    on: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EntityDef:
    """One public entity set and its type."""

    entity_set: str
    entity_type: str
    aot_name: str
    category: str
    keys: tuple[str, ...]
    fields: tuple[FieldDef, ...]
    navigation: tuple[NavDef, ...]
    read_only: bool
    required: frozenset[str]
    server_fields: frozenset[str]
    enum_defaults: dict[str, str | None]
    etag_sources: int
    by_name: dict[str, FieldDef] = field(repr=False)
    by_folded: dict[str, FieldDef] = field(repr=False)

    @property
    def company_specific(self) -> bool:
        return "dataAreaId" in self.by_name

    @property
    def qualified_type(self) -> str:
        return ENUM_PREFIX + self.entity_type

    def nav(self, name: str) -> NavDef | None:
        return next((n for n in self.navigation if n.name == name), None)


@dataclass(frozen=True)
class Schema:
    """All served entity sets plus the enum catalogue."""

    sets: dict[str, EntityDef]
    enums: dict[str, tuple[tuple[str, int], ...]]

    def enum_members(self, enum_name: str) -> tuple[str, ...]:
        return tuple(name for name, _ in self.enums.get(enum_name, ()))

    def used_enums(self) -> list[str]:
        """Enum types referenced by a served property, sorted (for $metadata)."""
        names = {f.enum_name for e in self.sets.values() for f in e.fields if f.enum_name}
        return sorted(n for n in names if n in self.enums)


def _read(name: str) -> Any:
    text = resources.files("paybridge_sandbox.dynamics").joinpath("entities", name).read_text()
    return json.loads(text)


def _field(raw: dict[str, Any], utc_fields: set[str]) -> FieldDef:
    edm = str(raw["type"])
    name = str(raw["name"])
    enum_name: str | None = None
    kind: FieldKind
    if raw.get("enum"):
        kind, enum_name = "enum", edm.removeprefix(ENUM_PREFIX)
    elif edm == "Edm.DateTimeOffset":
        utc = name in utc_fields or name.endswith(_UTC_SUFFIXES)
        kind = "datetime" if utc else "date"
    else:
        kind = _EDM_KINDS.get(edm, "string")
    return FieldDef(
        name, edm, kind, bool(raw.get("nullable", True)), str(raw.get("label", "")), enum_name
    )


def _entity(
    set_name: str, catalog: dict[str, Any], defaults: dict[str, Any], served: set[str]
) -> EntityDef:
    raw = _read(f"{set_name}.json")
    extra = defaults.get(set_name, {})
    fields = tuple(_field(f, set(extra.get("utcDateTimeFields", []))) for f in raw["fields"])
    navs = tuple(
        NavDef(name, str(spec["target"]), _is_many(raw, name), tuple(spec["on"].items()))
        for name, spec in catalog.get("navigation", {}).items()
        if spec["target"] in served
    )
    by_name = {f.name: f for f in fields}
    return EntityDef(
        entity_set=set_name,
        entity_type=str(catalog["entityType"]),
        aot_name=str(catalog["aotName"]),
        category=str(catalog.get("category", "Master")),
        keys=tuple(raw["keys"]),
        fields=fields,
        navigation=navs,
        read_only=bool(catalog.get("readOnly", False)),
        required=frozenset(catalog.get("required", [])),
        server_fields=frozenset(catalog.get("serverFields", [])),
        enum_defaults=dict(extra.get("enumDefaults", {})),
        etag_sources=int(extra.get("etagSources", 1)),
        by_name=by_name,
        by_folded={n.casefold(): f for n, f in by_name.items()},
    )


def _is_many(raw: dict[str, Any], nav_name: str) -> bool:
    for nav in raw.get("navigation", []):
        if nav["name"] == nav_name:
            return str(nav["kind"]) == "OneToManyLink"
    return False


@cache
def load_schema() -> Schema:
    """Parse the packaged definitions (cached: they are immutable)."""
    catalog: dict[str, Any] = _read("_catalog.json")
    defaults: dict[str, Any] = _read("_defaults.json")
    served = {k for k in catalog if not k.startswith("_")}
    sets = {name: _entity(name, catalog[name], defaults, served) for name in sorted(served)}
    enums = {k: tuple((m, i) for i, m in enumerate(v)) for k, v in _read("_enums.json").items()}
    extra: dict[str, Any] = _read("_enums_sandbox.json")
    for name, members in extra.items():
        if not name.startswith("_"):
            enums[name] = tuple((str(m), int(v)) for m, v in members)
    return Schema(sets=sets, enums=enums)


def with_extensions(schema: Schema, extensions: tuple[str, ...]) -> Schema:
    """``schema`` with extension fields added, as a customer's F&O deployment has them: each
    ``EntitySet.Field`` or ``EntitySet.Field:Edm.Type`` (default ``Edm.String``), nullable and
    optional, in ``$metadata`` and writable like any other property."""
    sets = dict(schema.sets)
    for spec in extensions:
        target, _, edm = spec.partition(":")
        set_name, dot, name = target.partition(".")
        entity = sets.get(set_name)
        if not dot or not name.isidentifier() or entity is None:
            raise ValueError(
                f"extension field {spec!r}: write EntitySet.Field[:Edm.Type] of a served set"
            )
        extra = _field({"name": name, "type": edm or "Edm.String", "label": name}, set())
        by_name = {**entity.by_name, name: extra}
        sets[set_name] = replace(
            entity, fields=(*entity.fields, extra), by_name=by_name,
            by_folded={n.casefold(): f for n, f in by_name.items()},
        )  # fmt: skip
    return Schema(sets=sets, enums=schema.enums)
