"""Named cursors (poller watermarks), written in the same transaction as what they cover."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock
from paybridge.store.schema import cursors


class Cursors:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(cursors.c.value).where(cursors.c.name == name)).scalar()
            return str(value) if value is not None else None

    def put(self, conn: Connection, name: str, value: str) -> None:
        conn.execute(delete(cursors).where(cursors.c.name == name))
        conn.execute(insert(cursors).values(name=name, value=value, updated_at=self.clock.now()))

    def next_numbers(self, name: str, count: int) -> list[int]:
        """Allocate ``count`` consecutive numbers under ``name`` (1, 2, ...), atomically.

        A compare-and-set loop: two processes that read the same value can't both advance it
        (the second's set matches no row and it reads again), on SQLite and PostgreSQL alike.
        """
        while True:
            current = self.get(name)
            start = int(current) + 1 if current is not None else 1
            if self.advance_if(name, current or "", str(start + count - 1), missing=""):
                return list(range(start, start + count))

    def advance_if(self, name: str, expected: str, new: str, *, missing: str = "") -> bool:
        """Set ``name`` to ``new`` only if it still reads ``expected`` (absent reads ``missing``).

        One conditional UPDATE (or an INSERT that a concurrent one makes fail), so the check and
        the write can't be split by another transaction.
        """
        now = self.clock.now()
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(cursors)
                .where(cursors.c.name == name, cursors.c.value == expected)
                .values(value=new, updated_at=now)
            ).rowcount
            if changed == 1:
                return True
            if expected != missing:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(cursors).values(name=name, value=new, updated_at=now))
        except IntegrityError:
            return False  # someone else created it first
        return True
