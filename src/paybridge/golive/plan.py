"""What the access check looks at in D365, derived by ``app`` from the settings: entity sets,
records the settings name (company, journal names, accounts, payment method), fields, services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class EntityNeed:
    """An entity set PayBridge reads (and ``write``s): it must exist, be readable, be writable."""

    entity_set: str
    write: bool
    why: str
    essential: bool = True


@dataclass(frozen=True)
class RecordNeed:
    """A record a setting names: ``key`` finds it, ``expect`` are field values it must have."""

    what: str
    entity_set: str
    key: tuple[tuple[str, str], ...]
    setting: str
    expect: tuple[tuple[str, str], ...] = ()
    essential: bool = True
    hint: str = ""


@dataclass(frozen=True)
class FieldNeed:
    """A field a setting names (an extension field): it must be in the entity's metadata."""

    entity_set: str
    field: str
    setting: str


@dataclass(frozen=True)
class AccessPlan:
    company: str
    entities: tuple[EntityNeed, ...]
    records: tuple[RecordNeed, ...] = ()
    fields: tuple[FieldNeed, ...] = ()
    # "Group/Service/operation" of the journal posting service, when the engine posts journals.
    posting_service: str | None = None
    max_skew_seconds: float = 120.0
    # Who issues D365's token: Entra ID (cloud) or AD FS (on-premises); the token's fixes differ.
    d365_auth: Literal["entra", "adfs"] = "entra"
    paytrace_vault: bool = True
    paytrace_batches: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)
