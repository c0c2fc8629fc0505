"""The audit log: append-only rows of who did what, when, from where and with what outcome, hash-chained.

Each row's hash is SHA-256 over a canonical JSON of the row (including its ``seq``) and the previous
row's hash, so ``verify`` finds the first edited, deleted or reordered row. The database refuses
UPDATE and DELETE (triggers, migration 0002_security); the chain catches whoever gets past them.
Removing rows at the end is caught only against a head hash kept elsewhere: ``verify`` reports the
head for that. Retention: rows are kept at least 12 months (PCI DSS 10.5.1); nothing deletes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, insert, select
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock, SystemClock
from paybridge.security.cardguard import redact, redact_text
from paybridge.store.schema_security import audit_log

GENESIS = "0" * 64
RETENTION_MONTHS = 12
_RACE_RETRIES = 8


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    client: str
    outcome: str
    detail: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "client": self.client,
            "outcome": self.outcome,
            "detail": json.loads(self.detail),
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` or the first bad row (``bad_seq``) and what is wrong with it."""

    ok: bool
    rows: int
    head_hash: str
    bad_seq: int | None = None
    problem: str = ""


def row_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 of the canonical JSON of a row's fields and the previous row's hash."""
    canonical = {
        "seq": fields["seq"],
        "at": fields["at"].isoformat(),
        "actor": fields["actor"],
        "action": fields["action"],
        "target": fields["target"],
        "client": fields["client"],
        "outcome": fields["outcome"],
        "detail": fields["detail"],
        "prev_hash": prev_hash,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        row.seq, row.at, row.actor, row.action, row.target, row.client, row.outcome,
        row.detail, row.prev_hash, row.hash,
    )  # fmt: skip


def _clip(text: str, size: int) -> str:
    return redact_text(str(text))[:size]


class AuditLog:
    """Appends, lists and verifies the audit chain."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        client: str = "",
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one row; ``detail`` runs through the card-data redactor first."""
        fields: dict[str, Any] = {
            "at": self._clock.now().astimezone(UTC),
            "actor": _clip(actor, 80),
            "action": _clip(action, 80),
            "target": _clip(target, 200),
            "client": _clip(client, 80),
            "outcome": _clip(outcome, 20),
            "detail": json.dumps(redact(dict(detail or {})), sort_keys=True, default=str),
        }
        for attempt in range(_RACE_RETRIES):
            try:
                return self._append(fields)
            except IntegrityError:
                # Another writer took this seq first: chain onto its row instead.
                if attempt == _RACE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _append(self, fields: dict[str, Any]) -> AuditEntry:
        with self._engine.begin() as conn:
            last = conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
            row = {**fields, "seq": seq}
            digest = row_hash(row, prev)
            conn.execute(insert(audit_log).values(**row, prev_hash=prev, hash=digest))
        return AuditEntry(**row, prev_hash=prev, hash=digest)

    def search(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first, filtered; ``action`` matches a prefix (``vault.`` finds every vault row)."""
        query: Select[Any] = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if actor:
            query = query.where(audit_log.c.actor == actor)
        if action:
            query = query.where(audit_log.c.action.startswith(action, autoescape=True))
        if outcome:
            query = query.where(audit_log.c.outcome == outcome)
        if since:
            query = query.where(audit_log.c.at >= since)
        if until:
            query = query.where(audit_log.c.at < until)
        with self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def _rows(self) -> Iterator[AuditEntry]:
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(
                select(audit_log).order_by(audit_log.c.seq)
            )
            for row in result:
                yield _entry(row)

    def verify(self) -> VerifyReport:
        """Walk the chain from the first row; name the first row that breaks it."""
        prev, expected_seq, count = GENESIS, 1, 0
        for entry in self._rows():
            problem = _check(entry, prev, expected_seq)
            if problem:
                return VerifyReport(False, count, prev, entry.seq, problem)
            prev, expected_seq, count = entry.hash, entry.seq + 1, count + 1
        return VerifyReport(True, count, prev)


def _check(entry: AuditEntry, prev: str, expected_seq: int) -> str:
    if entry.seq != expected_seq:
        return f"row {entry.seq} follows row {expected_seq - 1}: rows are missing before it"
    if entry.prev_hash != prev:
        return f"row {entry.seq} does not chain to the row before it (deleted or reordered)"
    if row_hash(vars(entry), prev) != entry.hash:
        return f"row {entry.seq} was changed after it was written"
    return ""
