"""SQLite persistence of the sandbox state (``state_path``), so it survives a restart.

Only changed rows are written, once per request, in WAL mode with ``synchronous=NORMAL``: a
commit does not fsync, which keeps ~1,000 sales/s affordable; a power cut may lose the last
commits, a process crash does not. Protect hpf_tokens are not stored (like a browser session,
they do not outlive the emulator). Rows are JSON with tagged Decimals/datetimes, never floats.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from paybridge_sandbox.paytrace.cards import CardOnFile
from paybridge_sandbox.paytrace.state import (
    PENDING,
    Batch,
    Check,
    Counters,
    Customer,
    PayTraceSandbox,
    Recurrence,
    SandboxState,
    Transaction,
)

_CLASSES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (Transaction, Customer, Batch, Recurrence, Check, Counters, CardOnFile)
}
_TABLES = ("transactions", "customers", "batches", "recurrences", "checks", "tokens")


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__d": str(value)}
    if isinstance(value, datetime):
        return {"__dt": value.isoformat()}
    if isinstance(value, date):
        return {"__date": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dc": type(value).__name__, **fields}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if "__d" in obj:
        return Decimal(obj["__d"])
    if "__dt" in obj:
        return datetime.fromisoformat(obj["__dt"])
    if "__date" in obj:
        return date.fromisoformat(obj["__date"])
    if "__dc" in obj:
        cls = _CLASSES[obj.pop("__dc")]
        return cls(**obj)
    return obj


def dumps(value: Any) -> str:
    return json.dumps(_encode(value), separators=(",", ":"))


def loads(text: str) -> Any:
    return json.loads(text, object_hook=_decode, parse_float=Decimal)


class SqliteStorage:
    """Write-through of dirty rows; ``load`` rebuilds the dicts and indexes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS rows (kind TEXT NOT NULL, key TEXT NOT NULL, "
            "data TEXT NOT NULL, PRIMARY KEY (kind, key))"
        )
        self.db.commit()

    def _current(self, state: SandboxState, kind: str, key: Any) -> Any:
        if kind == "meta":
            return {"counters": state.counters, "last_tick": state.last_tick}.get(key)
        table: dict[Any, Any] = getattr(state, kind)
        return table.get(key)

    def flush(self, state: SandboxState) -> None:
        upserts: list[tuple[str, str, str]] = []
        deletes: list[tuple[str, str]] = []
        for kind, keys in state.dirty.items():
            for key in keys:
                value = self._current(state, kind, key)
                if value is None:
                    deletes.append((kind, str(key)))
                else:
                    upserts.append((kind, str(key), dumps(value)))
        state.dirty.clear()
        with self.db:
            self.db.executemany("DELETE FROM rows WHERE kind = ? AND key = ?", deletes)
            self.db.executemany(
                "INSERT INTO rows (kind, key, data) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data",
                upserts,
            )

    def load(self, sandbox: PayTraceSandbox) -> None:
        state = sandbox.state
        rows = self.db.execute("SELECT kind, key, data FROM rows ORDER BY kind, key").fetchall()
        for kind, key, data in rows:
            value = loads(data)
            if kind == "meta":
                setattr(state, key, value)
            elif kind in ("transactions", "batches", "recurrences", "checks"):
                getattr(state, kind)[int(key)] = value
            elif kind in _TABLES:
                getattr(state, kind)[key] = value
        for txn in sorted(state.transactions.values(), key=lambda t: t.transaction_id):
            state.index(txn, sandbox.local(txn.created_at).date())
            if txn.status == PENDING:
                state.pending[txn.transaction_id] = None
        state.dirty.clear()

    def close(self) -> None:
        self.db.close()
