"""The audit log: append-only rows of who did what, when, from where and with what outcome, keyed-chained.

Each row's ``hash`` is an HMAC-SHA256, under the audit key named by the row's ``key_id``, of a
canonical JSON of the row (its ``seq`` and the previous row's hash included): whoever can write the
database but cannot read the key cannot recompute it, so ``verify`` finds the first edited,
deleted, reordered or forged row. After every append the newest (seq, hmac) is written, signed,
to an anchor file outside the table (and to the log), so ``verify`` also sees rows cut from the
end. The database refuses UPDATE and DELETE (triggers, migration 0002_security) as well.

Rows written before the key existed (``key_id`` empty) are a legacy segment, verified as they were
(plain SHA-256 chain) and sealed by the first keyed row, ``audit.keyed``, whose HMAC covers the
legacy head: editing them now breaks that row. A legacy row after a keyed one is a forgery.
Retention: rows are kept at least 12 months (PCI DSS 10.5.1); nothing deletes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, insert, select
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock, SystemClock
from paybridge.errors import ConfigError
from paybridge.security.auditkeys import (
    Anchor,
    AnchorError,
    AuditKeys,
    AuditLocations,
    Head,
    audit_key_id,
    audit_locations,
)
from paybridge.security.cardguard import redact, redact_text
from paybridge.store.schema_security import audit_log

GENESIS = "0" * 64
RETENTION_MONTHS = 12
LEGACY = ""  # the key_id of rows written before the chain had a key
_RACE_RETRIES = 8
log = logging.getLogger("paybridge.audit")


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
    key_id: str = LEGACY

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
            "key_id": self.key_id,
        }


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` or the first bad row (``bad_seq``, None for a missing tail) and what is wrong."""

    ok: bool
    rows: int
    head_hash: str
    bad_seq: int | None = None
    problem: str = ""
    legacy_rows: int = 0
    anchored_seq: int | None = None
    key_ids: list[str] = field(default_factory=list)


def _canonical(fields: Mapping[str, Any], prev_hash: str) -> dict[str, Any]:
    return {
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


def _text(canonical: Mapping[str, Any]) -> bytes:
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """The legacy, unkeyed link: SHA-256 of the canonical JSON and the previous row's hash."""
    return hashlib.sha256(_text(_canonical(fields, prev_hash))).hexdigest()


def row_hmac(key: bytes, fields: Mapping[str, Any], prev_hash: str) -> str:
    """The keyed link: HMAC-SHA256 under ``key`` of the canonical JSON, prev hash and key id."""
    canonical = {**_canonical(fields, prev_hash), "key_id": audit_key_id(key)}
    return hmac.new(key, b"paybridge-audit-v2|" + _text(canonical), hashlib.sha256).hexdigest()


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        row.seq, row.at, row.actor, row.action, row.target, row.client, row.outcome,
        row.detail, row.prev_hash, row.hash, row.key_id,
    )  # fmt: skip


def _clip(text: str, size: int) -> str:
    return redact_text(str(text))[:size]


class AuditLog:
    """Appends, lists and verifies the keyed audit chain and keeps its anchor."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock | None = None,
        *,
        locations: AuditLocations | None = None,
        keys: AuditKeys | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self.locations = locations or audit_locations(engine.url)
        self.keys = keys or AuditKeys(self.locations)
        self.anchor = Anchor(self.locations.anchor_file, self.locations.anchor_setting)

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
        key = self._signing_key()
        for attempt in range(_RACE_RETRIES):
            try:
                entry, had_keyed = self._append(fields, key)
                break
            except IntegrityError:
                # Another writer took this seq first: chain onto its row instead.
                if attempt == _RACE_RETRIES - 1:
                    raise
        self._advance(entry, key, had_keyed)
        return entry

    def _signing_key(self) -> bytes:
        key = self.keys.active()
        if key is not None:
            return key
        with self._engine.connect() as conn:
            keyed = conn.execute(
                select(audit_log.c.key_id).where(audit_log.c.key_id != LEGACY).limit(1)
            ).first()
        if keyed is not None:
            # Another writer may have made the first key since we looked (it does so first).
            key = self.keys.active()
            if key is not None:
                return key
            raise ConfigError(
                f"{self.keys.source} is missing, but the audit log has rows signed with key "
                f"{keyed.key_id}: restore that key file (a new key would hide what came before)",
                system="audit",
                operation="record",
            )
        with self.anchor.locked():  # nobody anchors a row before the chain's anchor exists
            key, made = self.keys.create()
            if made:
                self.anchor.start(key)
                log.warning(
                    "audit: made a new audit key %s in %s", audit_key_id(key), self.keys.source
                )
        return key

    def _append(self, fields: dict[str, Any], key: bytes) -> tuple[AuditEntry, bool]:
        with self._engine.begin() as conn:
            last = conn.execute(
                select(audit_log.c.seq, audit_log.c.hash, audit_log.c.key_id)
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            ).first()
            if last is not None and last.key_id == LEGACY:
                # The first keyed row seals the legacy segment: its HMAC covers the legacy head.
                seal = {
                    **fields, "actor": "paybridge", "action": "audit.keyed",
                    "target": f"audit:{last.seq}", "client": "local", "outcome": "ok",
                    "detail": json.dumps(
                        {"legacy_rows": last.seq, "legacy_head": last.hash,
                         "key_id": audit_key_id(key)}, sort_keys=True,
                    ),
                }  # fmt: skip
                sealed = self._insert(conn, seal, last.seq + 1, last.hash, key)
                last_seq, prev, had_keyed = sealed.seq, sealed.hash, False
            elif last is not None:
                last_seq, prev, had_keyed = last.seq, last.hash, True
            else:
                last_seq, prev, had_keyed = 0, GENESIS, False
            return self._insert(conn, fields, last_seq + 1, prev, key), had_keyed

    def _insert(
        self, conn: Connection, fields: dict[str, Any], seq: int, prev: str, key: bytes
    ) -> AuditEntry:
        row = {**fields, "seq": seq}
        digest = row_hmac(key, row, prev)
        kid = audit_key_id(key)
        conn.execute(insert(audit_log).values(**row, prev_hash=prev, hash=digest, key_id=kid))
        return AuditEntry(**row, prev_hash=prev, hash=digest, key_id=kid)

    def _advance(self, entry: AuditEntry, key: bytes, had_keyed: bool) -> None:
        """Anchor the new head outside the table; a vanished anchor is itself a row."""
        # In base64url, not hex: a long run of hex digits could pass for a card number in a scan.
        head = base64.urlsafe_b64encode(bytes.fromhex(entry.hash)).decode("ascii").rstrip("=")
        log.info("audit head %d %s (key %s)", entry.seq, head, entry.key_id)
        state = self.anchor.advance(Head(entry.seq, entry.hash, entry.key_id), key, self.keys)
        if state == "unreadable":
            log.error(
                "audit: the anchor %s is not genuine; left for `audit verify`", self.anchor.name
            )
        elif state == "created" and had_keyed and entry.action != "audit.anchor_missing":
            log.warning("audit: the anchor %s was missing; written again", self.anchor.name)
            self.record(
                actor="paybridge", action="audit.anchor_missing", target=str(self.anchor.path),
                client="local", outcome="warning", detail={"at_seq": entry.seq},
            )  # fmt: skip

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
        """Walk the chain from the first row, then hold its end against the anchor."""
        try:
            head, anchor_problem = self.anchor.read(self.keys), ""
        except AnchorError as exc:
            head, anchor_problem = None, str(exc)
        walk = _Walk(self.keys, head)
        for entry in self._rows():
            problem = walk.check(entry)
            if problem:
                return walk.report(entry.seq, problem)
            walk.accept(entry)
        if anchor_problem:
            return walk.report(None, anchor_problem)
        return walk.against(self.anchor.name)


class _Walk:
    """The state of one ``verify`` pass."""

    def __init__(self, keys: AuditKeys, head: Head | None) -> None:
        self.keys, self.head = keys, head
        self.prev, self.expected, self.count, self.legacy = GENESIS, 1, 0, 0
        self.key_ids: list[str] = []
        self.anchored_hash = ""  # the hash of the row the anchor names, once walked past

    def check(self, entry: AuditEntry) -> str:
        if entry.seq != self.expected:
            return f"row {entry.seq} follows row {self.expected - 1}: rows are missing before it"
        if entry.prev_hash != self.prev:
            return f"row {entry.seq} does not chain to the row before it (deleted or reordered)"
        if entry.key_id == LEGACY:
            if self.key_ids:
                return f"row {entry.seq} carries no key but follows keyed rows: it was forged"
            ok = row_hash(vars(entry), self.prev) == entry.hash
        else:
            key = self.keys.get(entry.key_id)
            if key is None:
                return (
                    f"row {entry.seq} is signed with audit key {entry.key_id}, which "
                    f"{self.keys.source} does not hold: restore the old key (keep every key)"
                )
            ok = hmac.compare_digest(row_hmac(key, vars(entry), self.prev), entry.hash)
        return "" if ok else f"row {entry.seq} was changed after it was written"

    def accept(self, entry: AuditEntry) -> None:
        if entry.key_id == LEGACY:
            self.legacy += 1
        elif entry.key_id not in self.key_ids:
            self.key_ids.append(entry.key_id)
        if self.head is not None and entry.seq == self.head.seq:
            self.anchored_hash = entry.hash
        self.prev, self.expected, self.count = entry.hash, entry.seq + 1, self.count + 1

    def report(
        self, bad_seq: int | None, problem: str, anchored: int | None = None
    ) -> VerifyReport:
        return VerifyReport(
            not problem, self.count, self.prev, bad_seq, problem, self.legacy, anchored,
            list(self.key_ids),
        )  # fmt: skip

    def against(self, anchor: str) -> VerifyReport:
        head, last = self.head, self.expected - 1
        if head is None:
            # A key file is made together with the first keyed row and its anchor: with it present,
            # a missing anchor means one was removed (perhaps with rows re-written as legacy ones).
            if self.key_ids or self.keys.file_made():
                return self.report(
                    None, f"the anchor {anchor} is missing: rows cut from the end would not show"
                )
            return self.report(None, "")
        if head.seq == 0:  # the chain's first anchor: no keyed row was anchored yet
            return self.report(None, "", 0)
        if head.seq > last:
            return self.report(
                last + 1,
                f"the tail is missing: the anchor names row {head.seq}, the log ends at row {last}",
                head.seq,
            )
        if self.anchored_hash != head.hmac:
            return self.report(
                head.seq, f"row {head.seq} is not the row the anchor recorded (replaced)", head.seq
            )
        return self.report(None, "", head.seq)
