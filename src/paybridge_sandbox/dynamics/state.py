"""One sandbox instance: settings, clock, RNG, schema, store, engine, token authority, throttle.

Reachable from tests and the admin endpoints as ``app.state.sandbox``.
"""

from __future__ import annotations

import uuid
from random import Random
from typing import Any

from paybridge_sandbox.dynamics.auth import Authority
from paybridge_sandbox.dynamics.engine import Engine
from paybridge_sandbox.dynamics.persistence import SqliteState
from paybridge_sandbox.dynamics.protection import Throttle
from paybridge_sandbox.dynamics.schema import Schema, load_schema, with_extensions
from paybridge_sandbox.dynamics.seed import load_seed, read_seed, sequence_formats
from paybridge_sandbox.dynamics.settings import DynamicsSandboxSettings, SandboxClock
from paybridge_sandbox.dynamics.store import Store
from paybridge_sandbox.faults import FaultPlan


class Sandbox:
    """The state behind one ASGI app."""

    def __init__(self, settings: DynamicsSandboxSettings, clock: SandboxClock) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = Random(settings.rng_seed)
        self.schema: Schema = with_extensions(load_schema(), settings.extension_fields)
        self.seed = read_seed()
        self.store = Store(self.schema)
        self.engine = Engine(
            self.schema, self.store, settings, clock, self.rng, sequence_formats(self.seed)
        )
        self.authority = Authority(settings, clock, self.rng)
        self.throttle = Throttle(settings.throttle)
        self.faults = FaultPlan.named(settings.fault_profile or "none", settings.rng_seed or 0)
        self.persistence = (
            SqliteState(settings.state_path, self.schema)
            if settings.state_path is not None
            else None
        )
        self._load()

    def _load(self) -> None:
        persistence = self.persistence
        if persistence is not None and not persistence.is_empty():
            persistence.load(self.store)
        elif self.settings.seed:
            load_seed(self.store, self.schema, self.seed)
        if persistence is not None:
            if persistence.is_empty():
                persistence.save_all(self.store)
            self.store.on_commit = lambda changes: persistence.save(self.store, changes)

    def activity_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def summary(self) -> dict[str, Any]:
        return {
            "now": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "entity_sets": {name: len(t.rows) for name, t in self.store.tables.items()},
            "sequences": dict(self.store.sequences),
            "throttle": self.throttle.report(),
            "faults": self.faults.report(),
            "state_path": None
            if self.settings.state_path is None
            else str(self.settings.state_path),
        }
