"""In-memory tables of the sandbox: rows keyed by folded key tuples, lazy equality indexes,
number sequences, RecIds, and an undo log so a failed changeset leaves no trace.

Rows are replaced, never mutated in place, so the undo log can simply keep the old object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from paybridge_sandbox.dynamics.schema import EntityDef, Schema
from paybridge_sandbox.dynamics.values import fold

Key = tuple[Any, ...]
FIRST_REC_ID = 5637144576  # F&O RecIds of demo data start around here
# Entity sets that read another set's rows: SalesOrderLines and SalesOrderLinesV3 are two
# entities over F&O's one SalesLine table (the header's navigation leads to the older one).
VIEWS = {"SalesOrderLines": "SalesOrderLinesV3"}


@dataclass(slots=True, frozen=True)
class Row:
    """One stored entity: property values plus the hidden RecId and RecVersion."""

    values: dict[str, Any]
    rec_id: int
    rec_version: int


class Table:
    """The rows of one entity set, in insertion order, with equality indexes built on demand."""

    def __init__(self, entity: EntityDef) -> None:
        self.entity = entity
        self.rows: dict[Key, Row] = {}
        self._indexes: dict[str, dict[Any, dict[Key, None]]] = {}

    def key_of(self, values: dict[str, Any]) -> Key:
        return tuple(fold(values[k]) for k in self.entity.keys)

    def get(self, key: Key) -> Row | None:
        return self.rows.get(key)

    def put(self, key: Key, row: Row) -> Row | None:
        old = self.rows.get(key)
        if old is not None:
            self._unindex(key, old)
        self.rows[key] = row
        for name, index in self._indexes.items():
            index.setdefault(fold(row.values.get(name)), {})[key] = None
        return old

    def remove(self, key: Key) -> Row | None:
        old = self.rows.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def lookup(self, name: str, folded: Any) -> list[Key]:
        """Keys whose property ``name`` folds to ``folded`` (builds the index on first use)."""
        index = self._indexes.get(name)
        if index is None:
            index = {}
            for key, row in self.rows.items():
                index.setdefault(fold(row.values.get(name)), {})[key] = None
            self._indexes[name] = index
        return list(index.get(folded, ()))

    def _unindex(self, key: Key, row: Row) -> None:
        for name, index in self._indexes.items():
            bucket = index.get(fold(row.values.get(name)))
            if bucket is not None:
                bucket.pop(key, None)


Change = tuple[str, Key, Row | None]  # (entity set, key, row before the change)


class Store:
    """All tables plus sequences; ``transaction()`` makes a group of writes all-or-nothing."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.tables = {
            name: Table(entity) for name, entity in schema.sets.items() if name not in VIEWS
        }
        # A view reads its base's rows (one set of order lines, two entities over it, as in F&O).
        self.views = {
            view: self.tables[base] for view, base in VIEWS.items() if view in schema.sets
        }
        self.sequences: dict[str, int] = {}
        self.next_rec_id = FIRST_REC_ID
        # Highest line number handed out per (entity set, company, parent); like sequences it is
        # never rolled back, so a failed changeset only leaves a gap.
        self.line_counters: dict[tuple[str, Any, Any], Any] = {}
        self._undo: list[Change] | None = None
        self.on_commit: Callable[[list[Change]], None] | None = None

    def table(self, entity_set: str) -> Table:
        return self.tables.get(entity_set) or self.views[entity_set]

    def new_rec_id(self) -> int:
        self.next_rec_id += 1
        return self.next_rec_id

    def next_number(self, sequence: str) -> int:
        """Next value of a number sequence. Like F&O's non-continuous sequences, never rolled back."""
        value = self.sequences.get(sequence, 0) + 1
        self.sequences[sequence] = value
        return value

    def put(self, entity_set: str, key: Key, row: Row) -> None:
        old = self.tables[entity_set].put(key, row)
        self._log(entity_set, key, old)

    def remove(self, entity_set: str, key: Key) -> None:
        old = self.tables[entity_set].remove(key)
        if old is not None:
            self._log(entity_set, key, old)

    def _log(self, entity_set: str, key: Key, old: Row | None) -> None:
        if self._undo is not None:
            self._undo.append((entity_set, key, old))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or are undone (nested calls join the outer one)."""
        if self._undo is not None:
            yield
            return
        self._undo = []
        try:
            yield
        except BaseException:
            self._rollback(self._undo)
            raise
        finally:
            changes, self._undo = self._undo, None
        if changes and self.on_commit is not None:
            self.on_commit(changes)

    def _rollback(self, changes: list[Change]) -> None:
        for entity_set, key, old in reversed(changes):
            table = self.tables[entity_set]
            if old is None:
                table.remove(key)
            else:
                table.put(key, old)
