"""Per-entity business logic, F&O style: ``defaultRow`` (generated numbers, defaults from related
records), ``validateWrite`` (Infolog warnings), ``validateDelete`` and after-write bookkeeping.

Each rule module registers an ``EntityRules`` for the sets it owns; sets without rules only get
the generic checks (types, required properties, unique key).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import Any

from paybridge_sandbox.dynamics.settings import DynamicsSandboxSettings
from paybridge_sandbox.dynamics.store import Row, Store
from paybridge_sandbox.dynamics.values import fold

Values = dict[str, Any]


@dataclass
class RuleContext:
    """What a rule may use: the store, the clock's now, settings and the sandbox RNG."""

    store: Store
    now: datetime
    settings: DynamicsSandboxSettings
    rng: Random
    sequence_formats: dict[str, str]

    def today(self) -> datetime:
        return datetime(self.now.year, self.now.month, self.now.day, 12, tzinfo=UTC)

    def find(self, entity_set: str, **key: Any) -> Row | None:
        """A row by its full key (values compared the F&O way: case-insensitive)."""
        table = self.store.table(entity_set)
        return table.get(tuple(fold(key[k]) for k in table.entity.keys))

    def find_where(self, entity_set: str, **equal: Any) -> list[Row]:
        """Rows whose properties equal ``equal`` (first property probes an index)."""
        table = self.store.table(entity_set)
        (first, first_value), *rest = equal.items()
        rows = (table.rows[k] for k in table.lookup(first, fold(first_value)))
        return [r for r in rows if all(fold(r.values.get(n)) == fold(v) for n, v in rest)]

    def number(self, sequence: str) -> str:
        """Next formatted number of a company sequence such as ``usmf/JournalBatchNumber``."""
        fmt = self.sequence_formats.get(sequence) or _fallback_format(sequence)
        value = self.store.next_number(sequence)
        width = fmt.count("#")
        return fmt.replace("#" * width, str(value).zfill(width), 1)


def _fallback_format(sequence: str) -> str:
    company = sequence.split("/", 1)[0].upper()
    return f"{company}-######"


Hook = Callable[[RuleContext, Values, Row | None], list[str]]
DeleteHook = Callable[[RuleContext, Row], list[str]]
AfterHook = Callable[[RuleContext, Values | None, Row | None], None]


def _no_messages(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    return []


def _no_delete(ctx: RuleContext, row: Row) -> list[str]:
    return []


def _nothing(ctx: RuleContext, new: Values | None, old: Row | None) -> None:
    return None


@dataclass
class EntityRules:
    """The hooks of one entity set; ``defaults`` runs before required/key checks."""

    defaults: Hook = _no_messages
    validate: Hook = _no_messages
    validate_delete: DeleteHook = _no_delete
    after_write: AfterHook = _nothing
    labels: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, EntityRules] = {}


def rules_for(entity_set: str) -> EntityRules:
    _load_modules()
    return REGISTRY.get(entity_set) or EntityRules()


def _load_modules() -> None:
    if REGISTRY:
        return
    for name in ("customers", "journals", "sales"):
        importlib.import_module(f"paybridge_sandbox.dynamics.rules.{name}")


def not_in_related(value: Any, label: str, table_label: str) -> str:
    """F&O's standard relation warning (SYS112224), as seen in real Infologs."""
    return (
        f"Warning: The value '{value}' in field '{label}' is not found in the related table "
        f"'{table_label}'."
    )


def escape_display(value: str) -> str:
    """Financial display values escape the dimension delimiter: ``DAT-000011`` -> ``DAT\\-000011``."""
    return value.replace("\\", "\\\\").replace("-", "\\-")


def split_display(value: str) -> list[str]:
    """Segments of a display value: split on unescaped ``-``; ``\\-`` is a literal hyphen."""
    segments, current, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current.append(value[i + 1])
            i += 2
            continue
        if ch == "-":
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    segments.append("".join(current))
    return segments
