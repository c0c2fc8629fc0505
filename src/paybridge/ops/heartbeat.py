"""Each engine process's heartbeat: a row it rewrites every few seconds with its own counters.

``/metrics`` (in ``paybridge serve``) reads every row: a worker's HTTP requests, 429s and
messages handled reach Prometheus through one scrape target, whichever host the worker runs on.
A clean stop removes the row; a process that dies leaves it to go stale (the ``stale_workers``
alert) until it is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from paybridge.clock import Clock
from paybridge.ops.counters import ProcessCounters
from paybridge.store.schema_ops import ops_processes

log = logging.getLogger("paybridge.ops")

FORGET_AFTER = timedelta(hours=1)  # a silent process's row is dropped after this


class Heartbeat:
    """Writes this process's row; ``extra`` adds counters kept elsewhere (the workers' stats)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        name: str,
        counters: ProcessCounters,
        *,
        every_seconds: float = 5.0,
        extra: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.name = name
        self.counters = counters
        self.every_seconds = every_seconds
        self.extra = extra
        self.started_at = clock.now()

    def beat(self) -> None:
        now = self.clock.now()
        snapshot = self.counters.snapshot() + (self.extra() if self.extra else [])
        row = {
            "name": self.name, "host": socket.gethostname()[:120], "pid": os.getpid(),
            "started_at": self.started_at, "seen_at": now,
            "counters": json.dumps(snapshot, separators=(",", ":")),
        }  # fmt: skip
        with self.engine.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(
                insert(ops_processes)
                .values(row)
                .on_conflict_do_update(
                    index_elements=["name"],
                    set_={"seen_at": now, "counters": row["counters"], "pid": row["pid"]},
                )
            )
            conn.execute(delete(ops_processes).where(ops_processes.c.seen_at < now - FORGET_AFTER))

    def leave(self) -> None:
        """A clean stop: the row goes (a missing process is not a stale one)."""
        with self.engine.begin() as conn:
            conn.execute(delete(ops_processes).where(ops_processes.c.name == self.name))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.beat()
            except SQLAlchemyError as exc:  # the store is away: the workers say so too
                log.warning("heartbeat: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_seconds)
        with contextlib.suppress(SQLAlchemyError):
            self.leave()
