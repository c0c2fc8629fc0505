"""SQLite persistence of the sandbox state (``settings.state_path``), so it survives a restart.

Write-through: every committed transaction (one request, or one ``$batch`` changeset) upserts the
rows it touched plus the number sequences and the RecId counter, in one SQLite transaction.
Rows are stored as JSON with decimals as strings and datetimes as ISO text, and are typed back
from the entity definitions on load.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from paybridge_sandbox.dynamics.schema import Schema
from paybridge_sandbox.dynamics.store import Change, Key, Row, Store

_DDL = (
    "CREATE TABLE IF NOT EXISTS rows (entity_set TEXT NOT NULL, key TEXT NOT NULL, "
    "rec_id INTEGER NOT NULL, rec_version INTEGER NOT NULL, data TEXT NOT NULL, "
    "PRIMARY KEY (entity_set, key))",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _key_text(key: Key) -> str:
    return json.dumps([_plain(k) for k in key])


class SqliteState:
    """The SQLite file behind one sandbox."""

    def __init__(self, path: Path, schema: Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        for statement in _DDL:
            self.db.execute(statement)
        self.db.commit()

    def is_empty(self) -> bool:
        count: int = self.db.execute("SELECT COUNT(*) FROM meta").fetchone()[0]
        return count == 0

    def load(self, store: Store) -> None:
        meta = dict(self.db.execute("SELECT name, value FROM meta").fetchall())
        store.next_rec_id = int(meta.get("next_rec_id", store.next_rec_id))
        store.sequences.update(json.loads(meta.get("sequences", "{}")))
        for entity_set, rec_id, version, data in self.db.execute(
            "SELECT entity_set, rec_id, rec_version, data FROM rows ORDER BY rowid"
        ):
            if entity_set not in store.tables:
                continue
            values = self._typed(entity_set, json.loads(data))
            table = store.table(entity_set)
            table.put(table.key_of(values), Row(values, rec_id, version))

    def _typed(self, entity_set: str, raw: dict[str, Any]) -> dict[str, Any]:
        entity = self.schema.sets[entity_set]
        values: dict[str, Any] = {}
        for fdef in entity.fields:
            value = raw.get(fdef.name)
            if value is not None and fdef.kind == "decimal":
                value = Decimal(value)
            elif value is not None and fdef.kind in {"date", "datetime"}:
                value = datetime.fromisoformat(value)
            values[fdef.name] = value
        return values

    def save_all(self, store: Store) -> None:
        changes: list[Change] = [
            (name, key, None) for name, table in store.tables.items() for key in table.rows
        ]
        self.save(store, changes)

    def save(self, store: Store, changes: list[Change]) -> None:
        touched = {(entity_set, key) for entity_set, key, _ in changes}
        upserts, deletes = [], []
        for entity_set, key in touched:
            row = store.table(entity_set).get(key)
            if row is None:
                deletes.append((entity_set, _key_text(key)))
            else:
                data = json.dumps({k: _plain(v) for k, v in row.values.items()})
                upserts.append((entity_set, _key_text(key), row.rec_id, row.rec_version, data))
        with self.db:
            self.db.executemany("DELETE FROM rows WHERE entity_set = ? AND key = ?", deletes)
            self.db.executemany(
                "INSERT INTO rows (entity_set, key, rec_id, rec_version, data) VALUES "
                "(?, ?, ?, ?, ?) ON CONFLICT (entity_set, key) DO UPDATE SET "
                "rec_id = excluded.rec_id, rec_version = excluded.rec_version, "
                "data = excluded.data",
                upserts,
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [
                    ("next_rec_id", str(store.next_rec_id)),
                    ("sequences", json.dumps(store.sequences)),
                ],
            )

    def close(self) -> None:
        self.db.close()
