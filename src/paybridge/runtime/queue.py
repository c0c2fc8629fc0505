"""The durable queue and its inbox: dedupe by key, per-partition order, leases, delays, dead letters."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    Select,
    String,
    Update,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, RowMapping

from paybridge.clock import Clock
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.tracing import NO_TRACING, Tracer
from paybridge.store.schema import dead_letter_log, inbox, queue, queue_status_in

READY, LEASED, DONE, DEAD = "ready", "leased", "done", "dead"
# Dead-letter triage: the state each action leaves (None: unchanged).
TRIAGE_OPEN, TRIAGE_RESOLVED, TRIAGE_IGNORED = "open", "resolved", "ignored"
TRIAGE_STATES = (TRIAGE_OPEN, TRIAGE_RESOLVED, TRIAGE_IGNORED)
TRIAGE_ACTIONS: dict[str, str | None] = {
    "comment": None,
    "assign": None,
    "resolve": TRIAGE_RESOLVED,
    "ignore": TRIAGE_IGNORED,
    "reopen": TRIAGE_OPEN,
}
_CHUNK = 400  # rows per multi-row statement: well below both databases' parameter limits


@dataclass(frozen=True)
class QueueStats:
    ready: int
    leased: int
    done: int
    dead: int
    duplicates: int


class SqlQueue:
    """A queue in the store; the inbox insert and the enqueue share one transaction."""

    def __init__(self, engine: Engine, clock: Clock, tracer: Tracer = NO_TRACING) -> None:
        self.engine = engine
        self.clock = clock
        # With tracing on, each message carries its publisher's trace context (``headers``).
        self.tracer = tracer

    def publish(self, conn: Connection, envelopes: Sequence[Envelope]) -> list[bool]:
        """Enqueue inside the caller's transaction; returns, per envelope, whether it was new.

        The inbox takes the keys in a few multi-row inserts that ignore conflicts and return
        what went in: a key already there (or repeated in this call) is a counted duplicate.
        Both inserts go to the driver as fixed statements (PostgreSQL: ``COPY``, the keys
        through a staging table; SQLite: one multi-row statement per chunk and ``executemany``):
        building a multi-row statement in SQLAlchemy cost more than running it.
        """
        now = _bound_time(conn, self.clock.now())
        context = self.tracer.headers()
        if context:
            envelopes = [env if env.headers else replace(env, headers=context) for env in envelopes]
        first: dict[str, Envelope] = {}
        for env in envelopes:
            first.setdefault(env.key, env)
        inserted = _take_keys(conn, [(k, first[k].source) for k in first], now)
        fresh: list[bool] = []
        duplicates: Counter[str] = Counter()
        for env in envelopes:
            is_new = env.key in inserted and first[env.key] is env
            fresh.append(is_new)
            if not is_new:
                duplicates[env.key] += 1
        for key, count in duplicates.items():
            conn.execute(
                update(inbox)
                .where(inbox.c.key == key)
                .values(duplicates=inbox.c.duplicates + count)
            )
        rows = [
            (env.topic, env.key, env.partition_key, env.payload_json(),
             json.dumps(env.headers, sort_keys=True) if env.headers else None)
            for env, new in zip(envelopes, fresh, strict=True)
            if new
        ]  # fmt: skip
        _insert_messages(conn, rows, now)
        return fresh

    def enqueue(self, envelopes: Sequence[Envelope]) -> list[bool]:
        with self.engine.begin() as conn:
            return self.publish(conn, envelopes)

    def claim(self, worker: str, limit: int, lease_seconds: float = 60.0) -> list[Envelope]:
        """Lease up to ``limit`` messages, at most the oldest open one of each partition.

        One statement picks and leases them (an UPDATE of the ids a sub-select picks, skipping
        rows other workers hold on PostgreSQL) and returns them; compiled once, prepared by
        the driver on PostgreSQL.
        """
        now = self.clock.now()
        with self.engine.begin() as conn:
            # A lease that ran out means its worker died: the message is ready again.
            conn.execute(_EXPIRE, {"now": now})
            claim = _CLAIM
            if conn.dialect.name == "postgresql":
                claim = _CLAIM_PG
                # Walk ready messages in id order and stop at the limit: a planner that misjudges
                # how many are ready (a fresh or bursty table) would otherwise test every one's
                # partition and sort them all, at every claim (300 ms instead of 10 at 15,000).
                conn.exec_driver_sql(_PG_CLAIM_PLAN)
            params = {
                "now": now, "limit": limit, "worker": worker,
                "until": now + timedelta(seconds=lease_seconds),
            }  # fmt: skip
            rows = sorted(conn.execute(claim, params).all(), key=lambda row: int(row.id))
        payloads = _json_objects([row.payload for row in rows])
        return [
            Envelope(
                topic=row.topic,
                key=row.key,
                partition_key=row.partition_key,
                payload=payload,
                id=row.id,
                attempts=row.attempts,
                created_at=row.created_at,
                failures=row.failures,
                headers=json.loads(row.headers) if row.headers else {},
            )
            for row, payload in zip(rows, payloads, strict=True)
        ]

    # Fencing: a claim raises ``attempts``, and the claimed envelope carries that number. Every
    # change a worker makes to a leased message names it, so a worker whose lease ran out (and
    # whose message another worker claimed since) changes nothing: its ack, retry or dead letter
    # matches no row. Each method returns the ids it did change.

    def ack(self, envs: Sequence[Envelope]) -> list[int]:
        return self._fenced(envs, status=DONE, lease_until=None)

    def retry(self, env: Envelope, delay_seconds: float, error: str) -> bool:
        not_before = self.clock.now() + timedelta(seconds=delay_seconds)
        return bool(
            self._fenced(
                [env], status=READY, not_before=not_before, last_error=error[:4000],
                failures=queue.c.failures + 1,
            )
        )  # fmt: skip

    def dead(self, env: Envelope, reason: str) -> bool:
        return bool(
            self._fenced([env], status=DEAD, dead_reason=reason[:4000], last_error=reason[:4000])
        )

    def release(self, envs: Sequence[Envelope]) -> list[int]:
        """Give leased messages back untouched (graceful shutdown)."""
        return self._fenced(envs, status=READY, lease_until=None, attempts=queue.c.attempts - 1)

    def postpone(self, envs: Sequence[Envelope], delay_seconds: float, reason: str) -> list[int]:
        """Give leased messages back for later, as ``release`` does: the claim counts neither as
        an attempt nor as a failure (their topic is paused: the settings failed, not they)."""
        not_before = self.clock.now() + timedelta(seconds=delay_seconds)
        return self._fenced(
            envs, status=READY, lease_until=None, not_before=not_before,
            attempts=queue.c.attempts - 1, last_error=reason[:4000],
        )  # fmt: skip

    def wake(self, key: str) -> int:
        """Make a waiting message of ``key`` ready now (a review released it); a leased one is
        left to its holder. Returns how many were woken."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(queue)
                .where(queue.c.key == key, queue.c.status == READY, queue.c.not_before > now)
                .values(not_before=now, updated_at=now)
            )
            return int(result.rowcount or 0)

    def renew(self, envs: Sequence[Envelope], lease_seconds: float) -> list[int]:
        """Extend the leases still held (a worker that is still working on them says so)."""
        until = self.clock.now() + timedelta(seconds=lease_seconds)
        return self._fenced(envs, lease_until=until)

    def _fenced(self, envs: Sequence[Envelope], **values: object) -> list[int]:
        """Change the leased messages whose claim (``attempts``) is still the envelope's."""
        held = [(env.id, env.attempts) for env in envs if env.id is not None]
        if not held:
            return []
        now = self.clock.now()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One statement for the batch: (id, attempts) pairs as two arrays.
                fence = _PG_FENCE
                stmt = update(queue).where(
                    queue.c.id == fence.c.id,
                    queue.c.attempts == fence.c.attempts,
                    queue.c.status == LEASED,
                )
                ids, attempts = (
                    "{" + ",".join(str(int(n)) for n in column) + "}"
                    for column in zip(*held, strict=True)
                )
                result = conn.execute(
                    stmt.values(updated_at=now, **values).returning(queue.c.id),
                    {"held_ids": ids, "held_attempts": attempts},
                )
                return [row[0] for row in result]
            changed: list[int] = []
            for claim in sorted({a for _, a in held}):
                result = conn.execute(
                    update(queue)
                    .where(
                        queue.c.id.in_([i for i, a in held if a == claim]),
                        queue.c.status == LEASED,
                        queue.c.attempts == claim,
                    )
                    .values(updated_at=now, **values)
                    .returning(queue.c.id)
                )
                changed.extend(row[0] for row in result)
            return changed

    def replay(self, message_id: int, actor: str = "system", comment: str | None = None) -> bool:
        """Put a dead letter back in line, attempts reset; the log keeps why it died and who
        replayed it (a replay reuses the message, so the link is the message's own history)."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            row = _dead_row(conn, message_id)
            if row is None:
                return False
            result = conn.execute(
                update(queue)
                .where(queue.c.id == message_id, queue.c.status == DEAD)
                .values(
                    status=READY, attempts=0, failures=0, not_before=now, dead_reason=None, triage_state=None,
                    replays=queue.c.replays + 1, updated_at=now,
                )
            )  # fmt: skip
            if result.rowcount != 1:
                return False
            detail = {
                "dead_reason": row["dead_reason"],
                "last_error": row["last_error"],
                "attempts": row["attempts"],
                "died_at": row["updated_at"].isoformat() if row["updated_at"] else None,
                "replay": int(row["replays"] or 0) + 1,
                "state_before": row["triage_state"] or TRIAGE_OPEN,
            }
            self._log(
                conn, message_id, actor, "replay", "replayed", row["assignee"], comment, detail
            )
            return True

    def triage(
        self,
        message_id: int,
        action: str,
        actor: str,
        *,
        comment: str | None = None,
        assignee: str | None = None,
    ) -> dict[str, Any] | None:
        """Comment on, resolve, ignore, reopen or assign a dead letter; None if there is none.

        ``resolve`` (fixed another way, e.g. keyed in D365 by hand) and ``ignore`` (nothing to
        do) keep the message dead but take it off the open list; ``reopen`` puts it back.
        Every action, with its actor, is kept in ``dead_letter_log``.
        """
        if action not in TRIAGE_ACTIONS:
            raise ValueError(f"unknown triage action {action!r}")
        now = self.clock.now()
        with self.engine.begin() as conn:
            row = _dead_row(conn, message_id)
            if row is None:
                return None
            state = TRIAGE_ACTIONS[action] or (row["triage_state"] or TRIAGE_OPEN)
            who = assignee if assignee is not None else row["assignee"]
            conn.execute(
                update(queue)
                .where(queue.c.id == message_id, queue.c.status == DEAD)
                .values(
                    triage_state=None if state == TRIAGE_OPEN else state, assignee=who,
                    triaged_by=actor, triaged_at=now,
                )
            )  # fmt: skip
            self._log(conn, message_id, actor, action, state, who, comment, {})
        return {**dict(row), "triage_state": state, "assignee": who, "triaged_by": actor}

    def _log(
        self, conn: Connection, message_id: int, actor: str, action: str, state: str,
        assignee: str | None, comment: str | None, detail: dict[str, Any],
    ) -> None:  # fmt: skip
        conn.execute(
            insert(dead_letter_log).values(
                message_id=message_id, at=self.clock.now(), actor=actor[:120], action=action,
                state=state, assignee=assignee, comment=comment[:4000] if comment else None,
                detail=json.dumps(detail, default=str, sort_keys=True),
            )
        )  # fmt: skip

    def history(self, message_id: int) -> list[dict[str, Any]]:
        """What was done to a message after it died (comments, states, replays), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(dead_letter_log)
                .where(dead_letter_log.c.message_id == message_id)
                .order_by(dead_letter_log.c.id)
            ).mappings()
            return [{**dict(r), "detail": json.loads(r["detail"] or "{}")} for r in rows]

    def payload(self, key: str) -> dict[str, Any] | None:
        """The payload of the message with ``key`` (the newest, if a replay made several)."""
        with self.engine.connect() as conn:
            text = conn.execute(
                select(queue.c.payload)
                .where(queue.c.key == key)
                .order_by(queue.c.id.desc())
                .limit(1)
            ).scalar()
        return json.loads(text) if text is not None else None

    def dead_letters(
        self, limit: int = 100, match: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """Dead letters, oldest first; ``match`` keeps those whose key or reason contains it,
        ``state`` those in that triage state (open, resolved, ignored; None: all)."""
        query = select(queue).where(queue_status_in(DEAD))
        if match:
            query = query.where(
                queue.c.key.contains(match, autoescape=True)
                | queue.c.dead_reason.contains(match, autoescape=True)
            )
        if state == TRIAGE_OPEN:
            query = query.where(queue.c.triage_state.is_(None))
        elif state is not None:
            query = query.where(queue.c.triage_state == state)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(queue.c.id).limit(limit))
            return [
                {**dict(row), "triage_state": row["triage_state"] or TRIAGE_OPEN}
                for row in rows.mappings()
            ]

    def dead_letter_summaries(self, state: str | None, limit: int) -> list[dict[str, Any]]:
        """Dead letters in ``state`` (None: all), oldest first, without their payloads: id, key,
        topic, attempts, triage state, assignee, reason, when they died."""
        c = queue.c
        query = select(
            c.id, c.key, c.topic, c.attempts, c.triage_state, c.assignee, c.dead_reason,
            c.updated_at,
        ).where(queue_status_in(DEAD))  # fmt: skip
        if state == TRIAGE_OPEN:
            query = query.where(c.triage_state.is_(None))
        elif state is not None:
            query = query.where(c.triage_state == state)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.id).limit(limit)).mappings()
            return [{**dict(r), "triage_state": r["triage_state"] or TRIAGE_OPEN} for r in rows]

    def dead_letter(self, message_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = _dead_row(conn, message_id)
        if row is None:
            return None
        return {**dict(row), "triage_state": row["triage_state"] or TRIAGE_OPEN}

    def purge(self, message_id: int) -> bool:
        """Drop one dead letter for good (its inbox key stays, so the fact is not taken again)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(queue).where(queue.c.id == message_id, queue.c.status == DEAD)
            )
            return result.rowcount == 1

    def stats(self) -> QueueStats:
        with self.engine.connect() as conn:
            counts: dict[str, int] = dict(
                conn.execute(select(queue.c.status, func.count()).group_by(queue.c.status)).all()
            )
            dups = conn.execute(select(func.coalesce(func.sum(inbox.c.duplicates), 0))).scalar()
        return QueueStats(
            ready=counts.get(READY, 0),
            leased=counts.get(LEASED, 0),
            done=counts.get(DONE, 0),
            dead=counts.get(DEAD, 0),
            duplicates=int(dups or 0),
        )


def _dead_row(conn: Connection, message_id: int) -> RowMapping | None:
    """The dead letter ``message_id`` as stored, or None (not there, or not dead)."""
    found = conn.execute(select(queue).where(queue.c.id == message_id, queue.c.status == DEAD))
    return found.mappings().first()


# The claim, built once: SQLAlchemy caches its compiled form, PostgreSQL its plan.
_PICK = queue.alias("pick")
_OLDER = queue.alias("older")
_BLOCKED = exists().where(
    _OLDER.c.partition_key == _PICK.c.partition_key,
    _OLDER.c.id < _PICK.c.id,
    queue_status_in(READY, LEASED, table=_OLDER),
)
_PICKED = (
    select(_PICK.c.id)
    .where(queue_status_in(READY, table=_PICK), _PICK.c.not_before <= bindparam("now"), ~_BLOCKED)
    .order_by(_PICK.c.id)
    .limit(bindparam("limit"))
)


def _json_objects(texts: Sequence[str]) -> list[Any]:
    """Each text parsed, in one parse of them all as a JSON array when each is one JSON object
    (as every payload PayBridge writes is); else one by one, raising as ``json.loads`` does."""
    if texts:
        try:
            values = json.loads("[" + ",".join(texts) + "]")
        except ValueError:
            values = None
        if (
            isinstance(values, list)
            and len(values) == len(texts)
            and all(isinstance(v, dict) for v in values)
        ):
            return values
    return [json.loads(text) for text in texts]


def _claim(picked: Select[tuple[int]]) -> Update:
    return (
        update(queue)
        .where(queue.c.id.in_(picked.scalar_subquery()))
        .values(
            status=LEASED,
            leased_by=bindparam("worker"),
            lease_until=bindparam("until", type_=queue.c.lease_until.type),
            attempts=queue.c.attempts + 1,
            updated_at=bindparam("now", type_=queue.c.updated_at.type),
        )
        .returning(
            queue.c.id, queue.c.topic, queue.c.key, queue.c.partition_key, queue.c.payload,
            queue.c.attempts, queue.c.created_at, queue.c.failures, queue.c.headers,
        )
    )  # fmt: skip


_CLAIM = _claim(_PICKED)
# The (id, attempts) pairs travel as two array literals ("{1,2,3}", numbers only): psycopg's
# list dumper looked at every element in Python.
_PG_FENCE = select(
    func.unnest(cast(bindparam("held_ids", type_=String), ARRAY(BigInteger))).label("id"),
    func.unnest(cast(bindparam("held_attempts", type_=String), ARRAY(Integer))).label("attempts"),
).subquery("fence")
_PG_CLAIM_PLAN = (
    "SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)"
)
_CLAIM_PG = _claim(_PICKED.with_for_update(skip_locked=True))
_EXPIRE = (
    update(queue)
    .where(
        queue_status_in(LEASED),
        queue.c.lease_until < bindparam("now", type_=queue.c.lease_until.type),
    )
    .values(status=READY, updated_at=bindparam("now", type_=queue.c.updated_at.type))
)


def _bound_time(conn: Connection, moment: datetime) -> Any:
    """``moment`` as the store's column type binds it (statements below go to the driver)."""
    process = queue.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(moment) if process else moment


def _take_keys(conn: Connection, keys: Sequence[tuple[str, str]], now: Any) -> set[str]:
    """Insert (key, source) pairs into the inbox, ignoring keys already there; the keys that went in."""
    taken: set[str] = set()
    if conn.dialect.name == "postgresql":
        # COPY into a session's staging table, then one insert that ignores known keys.
        with _driver(conn).cursor() as cursor:
            cursor.execute(_PG_STAGE)
            with cursor.copy("COPY paybridge_inbox_in (key, source) FROM STDIN") as copy:
                for row in keys:
                    copy.write_row(row)
            cursor.execute(_PG_TAKE_STAGED, (now,))
            return {str(row[0]) for row in cursor.fetchall()}
    for n in range(0, len(keys), _CHUNK):
        part = keys[n : n + _CHUNK]
        found = conn.exec_driver_sql(
            _sqlite_inbox_insert(len(part)), tuple(v for k, s in part for v in (k, s, now))
        )
        taken.update(row[0] for row in found)
    return taken


@lru_cache(maxsize=8)
def _sqlite_inbox_insert(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, 0)"] * rows)
    return (
        f"INSERT INTO inbox (key, source, received_at, duplicates) VALUES {values} "  # noqa: S608
        "ON CONFLICT (key) DO NOTHING RETURNING key"
    )


# ON COMMIT DELETE ROWS: each commit empties the staging file. Deleted rows alone would stay
# in it as dead tuples (autovacuum never visits temporary tables), and the ``DELETE`` below
# would read every page the session ever staged, at every publish.
_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS paybridge_inbox_in (key text, source text)"
    " ON COMMIT DELETE ROWS"
)
_PG_TAKE_STAGED = (
    "WITH staged AS (DELETE FROM paybridge_inbox_in RETURNING key, source) "
    "INSERT INTO inbox (key, source, received_at, duplicates) SELECT key, source, %s, 0 "
    "FROM staged ON CONFLICT (key) DO NOTHING RETURNING key"
)


def _driver(conn: Connection) -> Any:
    """psycopg's own connection under ``conn`` (same transaction): for COPY."""
    return conn.connection.driver_connection


_QUEUE_COLUMNS = (
    "topic, key, partition_key, payload, headers, status, attempts, not_before, created_at,"
    " updated_at"
)


def _insert_messages(
    conn: Connection, rows: Sequence[tuple[str, str, str, str, str | None]], now: Any
) -> None:
    """New messages (topic, key, partition, payload JSON, trace headers JSON), ready now."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        cursor = _driver(conn).cursor()
        with cursor, cursor.copy(f"COPY queue ({_QUEUE_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, READY, 0, now, now, now))
        return
    conn.exec_driver_sql(
        f"INSERT INTO queue ({_QUEUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'ready', 0, ?, ?, ?)",  # noqa: S608
        [(*row, now, now, now) for row in rows],
    )
