"""The store and the runtime records kept in it, opened from ``store.url``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine as SqlEngine

from paybridge.clock import Clock, SystemClock
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.intents import IntentStore
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.queue import SqlQueue
from paybridge.store import open_engine


@dataclass
class Store:
    """The store and the runtime records kept in it."""

    engine: SqlEngine
    queue: SqlQueue
    intents: IntentStore
    ledger: Ledger
    xref: Xref
    cursors: Cursors


def open_store(url: str, clock: Clock | None = None, *, upgrade: bool = True) -> Store:
    """The store at ``url``; ``upgrade=False`` (``store.auto_upgrade``) refuses one not at head."""
    clock = clock or SystemClock()
    engine = open_engine(url, upgrade=upgrade)
    return Store(
        engine=engine,
        queue=SqlQueue(engine, clock),
        intents=IntentStore(engine, clock),
        ledger=Ledger(engine, clock),
        xref=Xref(engine, clock),
        cursors=Cursors(engine, clock),
    )
