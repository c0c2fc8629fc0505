"""The ledger links ids across systems to event keys and steps; the xref maps one system's ids to the other's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, insert, select
from sqlalchemy.engine import Connection

from paybridge.clock import Clock
from paybridge.store.schema import inbox, ledger, queue, xref


def prefixed(conn: Connection, column: Any, prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``. On SQLite also as a range, so the index is used (its
    LIKE is case-insensitive and cannot); not on PostgreSQL, where a linguistic collation may
    order a key before its own prefix's upper bound."""
    starts: ColumnElement[bool] = column.startswith(prefix, autoescape=True)
    if conn.dialect.name != "sqlite" or not prefix:
        return starts
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper, starts)


@dataclass(frozen=True)
class LedgerEntry:
    event_key: str
    step: str
    system: str
    entity: str
    entity_id: str
    status: str
    attempts: int
    template_version: str | None
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class LineageRow:
    """One ledger entry to write (``Ledger.record_many``): the arguments of ``Ledger.record``."""

    event_key: str
    step: str
    system: str
    entity: str
    entity_id: str
    status: str
    attempts: int = 1
    template_version: str | None = None
    detail: dict[str, Any] | None = None


class Ledger:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def record(
        self,
        event_key: str,
        step: str,
        *,
        system: str,
        entity: str,
        entity_id: str,
        status: str,
        attempts: int = 1,
        template_version: str | None = None,
        detail: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:
        values = {
            "event_key": event_key,
            "step": step,
            "system": system,
            "entity": entity,
            "entity_id": entity_id,
            "status": status,
            "attempts": attempts,
            "template_version": template_version,
            "detail": json.dumps(detail or {}, default=str, sort_keys=True),
            "at": self.clock.now(),
        }
        if conn is not None:
            conn.execute(insert(ledger).values(values))
            return
        with self.engine.begin() as own:
            own.execute(insert(ledger).values(values))

    def record_many(self, rows: Sequence[LineageRow], conn: Connection) -> None:
        """Several entries in the caller's transaction, as one multi-row statement."""
        if not rows:
            return
        now = self.clock.now()
        values = [
            {
                "event_key": r.event_key, "step": r.step, "system": r.system,
                "entity": r.entity, "entity_id": r.entity_id, "status": r.status,
                "attempts": r.attempts, "template_version": r.template_version,
                "detail": json.dumps(r.detail or {}, default=str, sort_keys=True), "at": now,
            }
            for r in rows
        ]  # fmt: skip
        conn.execute(insert(ledger), values)

    def keys_with(self, keys: Sequence[str], step: str, status: str) -> set[str]:
        """Which of ``keys`` have an entry of ``step`` with ``status``: one query per 500 keys."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for n in range(0, len(keys), 500):
                rows = conn.execute(
                    select(ledger.c.event_key).where(
                        ledger.c.event_key.in_(keys[n : n + 500]),
                        ledger.c.step == step,
                        ledger.c.status == status,
                    )
                )
                found.update(key for (key,) in rows)
        return found

    def entries(self, key_prefix: str) -> list[LedgerEntry]:
        """Entries whose event key starts with ``key_prefix`` (e.g. ``paytrace:123:``), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ledger)
                .where(prefixed(conn, ledger.c.event_key, key_prefix))
                .order_by(ledger.c.id)
            ).mappings()
            return [
                LedgerEntry(
                    event_key=r["event_key"],
                    step=r["step"],
                    system=r["system"],
                    entity=r["entity"],
                    entity_id=r["entity_id"],
                    status=r["status"],
                    attempts=r["attempts"],
                    template_version=r["template_version"],
                    detail=json.loads(r["detail"]),
                    at=r["at"],
                )
                for r in rows
            ]

    def sightings(self, key_prefix: str) -> list[dict[str, Any]]:
        """Inbox and queue rows for the keys under ``key_prefix``: when each fact was seen."""
        with self.engine.connect() as conn:
            seen = conn.execute(
                select(inbox).where(prefixed(conn, inbox.c.key, key_prefix))
            ).mappings()
            messages = conn.execute(
                select(
                    queue.c.id,
                    queue.c.topic,
                    queue.c.key,
                    queue.c.status,
                    queue.c.attempts,
                    queue.c.last_error,
                    queue.c.dead_reason,
                    queue.c.triage_state,
                    queue.c.assignee,
                    queue.c.replays,
                    queue.c.created_at,
                    queue.c.updated_at,
                ).where(prefixed(conn, queue.c.key, key_prefix))
            ).mappings()
            by_key = {m["key"]: dict(m) for m in messages}
            return [{**dict(row), "message": by_key.get(row["key"])} for row in seen]


class Xref:
    """Cross-references such as PayTrace customer id -> D365 ``company/account``."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, kind: str, source_id: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(xref.c.target_id).where(xref.c.kind == kind, xref.c.source_id == source_id)
            ).scalar()
            return str(value) if value is not None else None

    def get_many(self, kind: str, source_ids: Sequence[str]) -> dict[str, str]:
        """``get`` for many source ids at once: those linked, to their targets."""
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for n in range(0, len(source_ids), 500):
                rows = conn.execute(
                    select(xref.c.source_id, xref.c.target_id).where(
                        xref.c.kind == kind, xref.c.source_id.in_(source_ids[n : n + 500])
                    )
                )
                found.update((str(s), str(t)) for s, t in rows)
        return found

    def link(self, kind: str, source_id: str, target_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(xref).where(xref.c.kind == kind, xref.c.source_id == source_id))
            conn.execute(
                insert(xref).values(
                    kind=kind, source_id=source_id, target_id=target_id, updated_at=self.clock.now()
                )
            )

    def source_for(self, kind: str, target_id: str) -> str | None:
        """The reverse lookup: the source id linked to ``target_id`` (the newest link if several)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(xref.c.source_id)
                .where(xref.c.kind == kind, xref.c.target_id == target_id)
                .order_by(xref.c.updated_at.desc(), xref.c.source_id)
                .limit(1)
            ).scalar()
            return str(value) if value is not None else None

    def all(self, kind: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(xref.c.source_id, xref.c.target_id).where(xref.c.kind == kind)
            )
            return {str(s): str(t) for s, t in rows}
