"""Intents: every external write is recorded before it is sent, and resolved by looking, not resending."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, bindparam, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock
from paybridge.errors import ConfigError, DataError, FatalError, RetryableError
from paybridge.store.schema import UtcDateTime, intents

log = logging.getLogger(__name__)

# PostgreSQL: one compare-and-set statement for a whole batch of intents (``_bulk_cas``).
_BULK_CAS = text(
    "UPDATE intents AS i SET status = v.new_status, attempts = i.attempts + v.bump, "
    "detail = COALESCE(v.new_detail, i.detail), updated_at = :now "
    "FROM json_to_recordset(CAST(:rows AS json)) "
    "AS v(event_key text, step text, old_status text, old_attempts integer, new_status text, "
    "bump integer, new_detail text) "
    "WHERE i.event_key = v.event_key AND i.step = v.step AND i.status = v.old_status "
    "AND i.attempts = v.old_attempts RETURNING i.event_key, i.step"
).bindparams(bindparam("now", type_=UtcDateTime()))

PLANNED, SENT, DONE, FAILED = "planned", "sent", "done", "failed"
# Errors that prove the write did not happen; InDoubtError and surprises prove nothing.
DEFINITE_REFUSALS = (DataError, FatalError, RetryableError, ConfigError)


def _encode(value: Any) -> Any:
    # What json cannot write. Decimals keep their exact digits through the store: a write
    # replayed later sends the same number. Anything else unknown is written as its text.
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    return str(value)


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$decimal"}:
        return Decimal(obj["$decimal"])
    return obj


def dump_detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, default=_encode, sort_keys=True)  # the walk at C speed


_DETAIL = json.JSONDecoder(object_hook=_decode)  # one decoder: json.loads builds one per call


def load_detail(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = _DETAIL.decode(text)
    return loaded


@dataclass(frozen=True)
class Intent:
    event_key: str
    step: str
    system: str
    status: str
    reference: str
    detail: dict[str, Any]
    attempts: int
    # When the row last changed: for a ``sent`` intent, when it was claimed to be sent (the
    # grace of a look-up runs from it). Not part of the compare-and-set.
    updated_at: datetime | None = field(default=None, compare=False)


def _row_intent(row: Any) -> Intent:
    return Intent(
        event_key=row["event_key"],
        step=row["step"],
        system=row["system"],
        status=row["status"],
        reference=row["reference"],
        detail=load_detail(row["detail"]),
        attempts=row["attempts"],
        updated_at=row["updated_at"],
    )


_CHUNK = 400  # keys per IN (...) clause: well below SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class Resolution:
    """How ``execute_once`` finished: sent now, found after an ambiguous try, or already done."""

    how: str  # "sent" | "found" | "already"
    detail: dict[str, Any]


class IntentStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, event_key: str, step: str) -> Intent | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(intents).where(intents.c.event_key == event_key, intents.c.step == step)
                )
                .mappings()
                .first()
            )
        return _row_intent(row) if row is not None else None

    def plan(
        self, event_key: str, step: str, system: str, reference: str, detail: dict[str, Any]
    ) -> Intent:
        """Record the intent unless it exists; return what is recorded (the first plan wins)."""
        now = self.clock.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(intents).values(
                        event_key=event_key,
                        step=step,
                        system=system,
                        status=PLANNED,
                        reference=reference,
                        detail=dump_detail(detail),
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass
        found = self.get(event_key, step)
        assert found is not None
        return found

    def _cas(self, intent: Intent, conn: Connection | None = None, **values: Any) -> bool:
        """Change the intent only if it is still exactly as ``intent`` (status and attempts)."""
        stmt = (
            update(intents)
            .where(
                intents.c.event_key == intent.event_key,
                intents.c.step == intent.step,
                intents.c.status == intent.status,
                intents.c.attempts == intent.attempts,
            )
            .values(updated_at=self.clock.now(), **values)
        )
        if conn is not None:
            return conn.execute(stmt).rowcount == 1
        with self.engine.begin() as own:
            return own.execute(stmt).rowcount == 1

    def claim_send(self, intent: Intent) -> Intent | None:
        """Move the intent to ``sent`` only if nobody changed it since it was read.

        Two workers may hold the same event (a lease ran out while the first was still slow);
        this compare-and-set lets exactly one of them send, the other backs off and looks later.
        Returns the intent as now held (its raised ``attempts`` is the fencing token every later
        transition names), or ``None`` when another worker changed it first.
        """
        if self._cas(intent, status=SENT, attempts=intents.c.attempts + 1):
            return held(intent)
        return None

    # Fencing: every transition names the intent as the caller holds it (status and attempts);
    # a worker that lost the intent to another (which raised ``attempts`` by claiming it) changes
    # nothing, and learns so from the ``False`` it gets back.

    def complete(self, intent: Intent, detail: dict[str, Any]) -> bool:
        merged = {**intent.detail, **detail}
        return self._cas(intent, status=DONE, detail=dump_detail(merged))

    def unsend(self, intent: Intent) -> bool:
        """The other system refused for certain: nothing was written, a later attempt may send."""
        return self._cas(intent, status=PLANNED)

    def fail(self, intent: Intent, reason: str) -> bool:
        merged = {**intent.detail, "error": reason}
        return self._cas(intent, status=FAILED, detail=dump_detail(merged))

    # -- many at once: the same rows and compare-and-set, one store transaction per call; a
    # posting batch of a thousand lines would otherwise cost thousands of round trips.

    def get_many(self, step: str, keys: Sequence[str]) -> dict[str, Intent]:
        found: dict[str, Intent] = {}
        with self.engine.connect() as conn:
            for n in range(0, len(keys), _CHUNK):
                chunk = list(keys[n : n + _CHUNK])
                rows = conn.execute(
                    select(intents).where(intents.c.step == step, intents.c.event_key.in_(chunk))
                ).mappings()
                for row in rows:
                    found[row["event_key"]] = _row_intent(row)
        return found

    def plan_many(
        self, step: str, system: str, items: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> dict[str, Intent]:
        """Record (event key, reference, detail) intents unless they exist; the first plan wins."""
        if not items:
            return {}
        now = self.clock.now()
        rows = [
            {
                "event_key": key, "step": step, "system": system, "status": PLANNED,
                "reference": reference, "detail": dump_detail(detail), "attempts": 0,
                "created_at": now, "updated_at": now,
            }
            for key, reference, detail in items
        ]  # fmt: skip
        with self.engine.begin() as conn:
            dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            for n in range(0, len(rows), _CHUNK):
                stmt = dialect_insert(intents).on_conflict_do_nothing(
                    index_elements=["event_key", "step"]
                )
                conn.execute(stmt, rows[n : n + _CHUNK])
        return self.get_many(step, [key for key, _, _ in items])

    def claim_many(self, seen: Sequence[Intent]) -> list[Intent | None]:
        """``IntentStore.claim_send`` for each, in one transaction."""
        with self.engine.begin() as conn:
            bulk = _bulk_cas(conn, [(i, SENT, 1, None) for i in seen], self.clock.now())
            if bulk is not None:
                return [held(i) if ok else None for i, ok in zip(seen, bulk, strict=True)]
            claimed: list[Intent | None] = []
            for intent in seen:
                ok = self._cas(intent, conn, status=SENT, attempts=intents.c.attempts + 1)
                claimed.append(held(intent) if ok else None)
        return claimed

    def set_many(
        self,
        changes: Sequence[tuple[Intent, str, dict[str, Any]]],
        conn: Connection | None = None,
    ) -> list[bool]:
        """(intent as held, new status, detail to merge) for each, in one transaction; fenced
        like ``complete``: each says whether it changed (``False``: another worker has it now)."""
        if not changes:
            return []
        if conn is None:
            with self.engine.begin() as own:
                return self.set_many(changes, own)
        rows = [
            (i, status, 0, dump_detail({**i.detail, **extra}) if extra else None)
            for i, status, extra in changes
        ]
        bulk = _bulk_cas(conn, rows, self.clock.now())
        if bulk is not None:
            return bulk
        changed: list[bool] = []
        for intent, status, extra in changes:
            values: dict[str, Any] = {"status": status}
            if extra:
                values["detail"] = dump_detail({**intent.detail, **extra})
            changed.append(self._cas(intent, conn, **values))
        return changed

    def unfinished(self, step: str, since: datetime) -> list[Intent]:
        """The intents of ``step`` still planned or sent, changed at or after ``since``
        (``ix_intents_unfinished``: the states are literals, as its WHERE needs)."""
        query = select(intents).where(
            intents.c.step == step,
            intents.c.status.in_([literal_column("'planned'"), literal_column("'sent'")]),
            intents.c.updated_at >= since,
        )
        with self.engine.connect() as conn:
            return [_row_intent(row) for row in conn.execute(query).mappings()]

    def by_step(self, step: str, status: str | None = None) -> list[Intent]:
        query = select(intents).where(intents.c.step == step)
        if status is not None:
            query = query.where(intents.c.status == status)
        with self.engine.connect() as conn:
            return [_row_intent(row) for row in conn.execute(query).mappings()]

    async def execute_once(
        self,
        intent: Intent,
        send: Callable[[], Awaitable[dict[str, Any]]],
        find: Callable[[], Awaitable[dict[str, Any] | None]],
    ) -> Resolution:
        """Run ``send`` at most once per confirmed absence; an earlier unknown outcome is looked up.

        ``send`` returns the detail to keep (ids the other system gave). ``find`` returns that
        detail when the write exists on the other side, ``None`` when it is confirmed absent, and
        raises when it cannot tell. An ambiguous ``send`` leaves the intent ``sent`` and re-raises
        ``InDoubtError``, so the next attempt starts by looking.
        """
        if intent.status == DONE:
            return Resolution("already", intent.detail)
        if intent.status in (SENT, FAILED):
            existing = await find()
            if existing is not None:
                self.complete(intent, existing)
                return Resolution("found", existing)
        mine = self.claim_send(intent)
        if mine is None:
            raise RetryableError(
                f"another worker is writing {intent.event_key} {intent.step}", retry_after=1.0
            )
        try:
            detail = await send()
        except DEFINITE_REFUSALS:
            # The other system said no: nothing was written, so a later attempt may send again.
            self.unsend(mine)
            raise
        # Anything else (InDoubtError, or a surprise after the request left) keeps it ``sent``.
        if not self.complete(mine, detail):
            # Another worker took the intent over while this send was out (its lease ran out).
            # What was sent is still true; the holder finds it by looking, so nothing is changed.
            log.warning(
                "%s %s: sent, but another worker holds it now", intent.event_key, intent.step
            )
        return Resolution("sent", detail)


def held(intent: Intent) -> Intent:
    """The intent as its claimer holds it: ``sent``, one attempt more."""
    return replace(intent, status=SENT, attempts=intent.attempts + 1)


# Rows per statement on SQLite: 7 parameters a row, well within its 32,766.
_SQLITE_CAS_ROWS = 500


def _sqlite_cas_statement(rows: int) -> str:
    """The fenced bulk compare-and-set of ``rows`` intents on SQLite (3.35+: UPDATE FROM,
    RETURNING): a row changes only if its status and attempts are still as held."""
    values = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in range(rows))
    # Placeholders only: every value is a parameter.
    return (
        "WITH v(event_key, step, old_status, old_attempts, new_status, bump, new_detail) AS "  # noqa: S608
        f"(VALUES {values}) "
        "UPDATE intents SET status = v.new_status, attempts = intents.attempts + v.bump, "
        "detail = COALESCE(v.new_detail, intents.detail), updated_at = ? FROM v "
        "WHERE intents.event_key = v.event_key AND intents.step = v.step "
        "AND intents.status = v.old_status AND intents.attempts = v.old_attempts "
        "RETURNING event_key, step"
    )


def _bulk_cas_sqlite(
    conn: Connection,
    rows: Sequence[tuple[Intent, str, int, str | None]],
    keys: Sequence[tuple[str, str]],
    now: Any,
) -> list[bool]:
    column = intents.c.updated_at.type.dialect_impl(conn.dialect)
    process = column.bind_processor(conn.dialect)
    stamp = process(now) if process else now
    changed: set[tuple[str, str]] = set()
    for start in range(0, len(rows), _SQLITE_CAS_ROWS):
        part = rows[start : start + _SQLITE_CAS_ROWS]
        params: list[Any] = []
        for intent, status, bump, detail in part:
            params += [intent.event_key, intent.step, intent.status, intent.attempts, status,
                       bump, detail]  # fmt: skip
        params.append(stamp)
        found = conn.exec_driver_sql(_sqlite_cas_statement(len(part)), tuple(params))
        changed.update((str(key), str(step)) for key, step in found.fetchall())
    return [key in changed for key in keys]


def _bulk_cas(
    conn: Connection, rows: Sequence[tuple[Intent, str, int, str | None]], now: Any
) -> list[bool] | None:
    """(intent as held, new status, attempts to add, new detail or None) for each, as ONE
    fenced statement on PostgreSQL: a row changes only if its status and attempts are still
    as held, exactly as ``IntentStore._cas`` row by row; each says whether it changed. None:
    not for this store or batch (one row, a key twice): go row by row. SQLite: one
    ``UPDATE ... FROM`` a ``VALUES`` list per chunk, fenced the same way."""
    if len(rows) < 2 or conn.dialect.name not in ("postgresql", "sqlite"):
        return None
    keys = [(i.event_key, i.step) for i, _, _, _ in rows]
    if len(set(keys)) != len(keys):
        return None
    if conn.dialect.name == "sqlite":
        return _bulk_cas_sqlite(conn, rows, keys, now)
    # One JSON document rather than seven text arrays: json.dumps escapes the details at C
    # speed, where psycopg's array dumper quoted each one through a regex.
    batch = json.dumps([
        {"event_key": i.event_key, "step": i.step, "old_status": i.status,
         "old_attempts": i.attempts, "new_status": status, "bump": bump, "new_detail": detail}
        for i, status, bump, detail in rows
    ])  # fmt: skip
    params = {"rows": batch, "now": now}
    changed = {(key, step) for key, step in conn.execute(_BULK_CAS, params)}
    return [key in changed for key in keys]
