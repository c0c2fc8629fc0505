"""The tables of PayBridge's store (SQLAlchemy Core): inbox, queue, intents, ledger, cursors, xref."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC out; stored naive UTC so SQLite and PostgreSQL compare alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; PayBridge uses aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


metadata = MetaData()

# A fact seen once: the deterministic key makes a second sighting a no-op.
inbox = Table(
    "inbox",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("source", String(40), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("duplicates", Integer, nullable=False, default=0),
)

queue = Table(
    "queue",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("topic", String(80), nullable=False),
    Column("key", String(200), nullable=False),
    Column("partition_key", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(10), nullable=False),  # ready | leased | done | dead
    Column("attempts", Integer, nullable=False, default=0),  # claims: the fencing token
    Column("failures", Integer, nullable=False, default=0, server_default="0"),  # retries
    Column("not_before", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("leased_by", String(80), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("dead_reason", Text, nullable=True),
    # Dead-letter triage (revision 0007_ops): open (NULL) | resolved | ignored, by whom, for whom.
    Column("triage_state", String(10), nullable=True),
    Column("assignee", String(120), nullable=True),
    Column("triaged_by", String(120), nullable=True),
    Column("triaged_at", UtcDateTime(), nullable=True),
    Column("replays", Integer, nullable=False, default=0, server_default="0"),
    # Trace context of the publisher, JSON (revision 0009_queue_headers); NULL when none.
    Column("headers", Text, nullable=True),
)
# Partial indexes (revision 0017_queue_speed): each holds only the messages of its states, so a
# message done (nearly all of them, for good) leaves them, and an ack or a claim writes fewer
# index entries. Queries name the state as a literal (``runtime.queue.state``): a partial index
# serves a query whose WHERE implies its own, which a bound parameter never does.
# Claims walk ready messages in id order and stop (revision 0011_queue_claim_order).
_READY = text("status = 'ready'")
_OPEN = text("status IN ('ready', 'leased')")
_LEASED = text("status = 'leased'")
_DEAD = text("status = 'dead'")
Index(
    "ix_queue_ready", queue.c.id, queue.c.not_before, sqlite_where=_READY, postgresql_where=_READY
)
# A partition's older open messages (the claim's per-partition order).
Index(
    "ix_queue_open", queue.c.partition_key, queue.c.id, sqlite_where=_OPEN, postgresql_where=_OPEN
)
# Leases that ran out (the claim gives them back first).
Index("ix_queue_leased", queue.c.lease_until, sqlite_where=_LEASED, postgresql_where=_LEASED)
Index("ix_queue_dead", queue.c.id, sqlite_where=_DEAD, postgresql_where=_DEAD)
Index("ix_queue_key", queue.c.key)


def queue_status_in(*states: str, table: FromClause = queue) -> ColumnElement[bool]:
    """``table.status`` in ``states``, the states written as literals (for the partial indexes)."""
    for name in states:
        if name not in ("ready", "leased", "done", "dead"):
            raise ValueError(f"not a queue state: {name!r}")
    if len(states) == 1:
        return table.c.status == literal_column(f"'{states[0]}'")
    return table.c.status.in_([literal_column(f"'{name}'") for name in states])


# Every external write is an intent before it is sent (see ARCHITECTURE "Exactly once").
intents = Table(
    "intents",
    metadata,
    Column("event_key", String(200), primary_key=True),
    Column("step", String(80), primary_key=True),
    Column("system", String(20), nullable=False),
    Column("status", String(12), nullable=False),  # planned | sent | done | failed
    Column("reference", String(200), nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
# The writes still on their way (planned or sent), by step and time (revision 0016): the
# cut-off looks for lines headed to a journal before posting it. Nearly every intent ends
# done and leaves this index.
_UNFINISHED = text("status IN ('planned', 'sent')")
Index(
    "ix_intents_unfinished", intents.c.step, intents.c.updated_at,
    sqlite_where=_UNFINISHED, postgresql_where=_UNFINISHED,
)  # fmt: skip

ledger = Table(
    "ledger",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_key", String(200), nullable=False),
    Column("step", String(80), nullable=False),
    Column("system", String(20), nullable=False),
    Column("entity", String(80), nullable=False),
    Column("entity_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("template_version", String(40), nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
    Column("at", UtcDateTime(), nullable=False),
)
Index("ix_ledger_event", ledger.c.event_key)
Index("ix_ledger_entity", ledger.c.system, ledger.c.entity, ledger.c.entity_id)
# The console (0010_console): lines posted per hour and the newest lines' latency by step and
# time; whether a fact's line is posted by key and step (so a search does not take the first).
Index("ix_ledger_step_at", ledger.c.step, ledger.c.status, ledger.c.at)
Index("ix_ledger_event_step", ledger.c.event_key, ledger.c.step, ledger.c.status)

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Cross-references between the two systems' ids (e.g. PayTrace customer -> D365 customer).
xref = Table(
    "xref",
    metadata,
    Column("kind", String(60), primary_key=True),
    Column("source_id", String(200), primary_key=True),
    Column("target_id", String(200), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# A claimed period of a periodic job (revision 0003_runtime): the primary key makes the claim unique.
schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("job", String(80), primary_key=True),
    Column("slot", BigInteger, primary_key=True),
    Column("worker", String(80), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("outcome", Text, nullable=True),
)

# What happened to a dead letter after it died (revision 0007_ops): comments, state changes,
# assignments and replays, each with who did it; a replay keeps the reason it died of.
dead_letter_log = Table(
    "dead_letter_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", BigInteger, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(120), nullable=False),
    Column(
        "action", String(20), nullable=False
    ),  # comment | resolve | ignore | reopen | assign | replay
    Column("state", String(10), nullable=False),  # the state after the action
    Column("assignee", String(120), nullable=True),
    Column("comment", Text, nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
)
Index("ix_dead_letter_log_message", dead_letter_log.c.message_id, dead_letter_log.c.id)
