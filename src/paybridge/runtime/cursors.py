"""Named cursors (poller watermarks), written in the same transaction as what they cover."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.engine import Connection

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
        """Allocate ``count`` consecutive numbers under ``name`` (1, 2, ...), atomically."""
        with self.engine.begin() as conn:
            current = conn.execute(select(cursors.c.value).where(cursors.c.name == name)).scalar()
            start = int(current) + 1 if current is not None else 1
            self.put(conn, name, str(start + count - 1))
        return list(range(start, start + count))

    def advance_if(self, name: str, expected: str, new: str, *, missing: str = "") -> bool:
        """Set ``name`` to ``new`` only if it still reads ``expected`` (absent reads ``missing``)."""
        with self.engine.begin() as conn:
            current = conn.execute(select(cursors.c.value).where(cursors.c.name == name)).scalar()
            if (missing if current is None else str(current)) != expected:
                return False
            self.put(conn, name, new)
            return True
