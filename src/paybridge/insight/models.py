"""Model versions over time: the retraining job, and each process's copy of the newest model.

The job trains on the newest stored scores (their features, and whether a person confirmed
fraud) and records which rows and seed made the version. A process notices a newer version at
most every ``check_seconds`` and rebuilds it from those same rows: training is deterministic,
so no model object is ever stored or unpickled. If reviews changed labels in those rows since,
the rebuilt model gets its own version, and scores record the version that actually gave them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from paybridge.clock import Clock
from paybridge.insight.model import Model
from paybridge.insight.store import InsightStore

log = logging.getLogger(__name__)
JOB_NAME = "insight.retrain"


@dataclass
class ModelCache:
    """The newest model this process has built; rules only until a model was trained."""

    store: InsightStore
    clock: Clock
    check_seconds: float = 30.0
    model: Model | None = None
    source: str | None = None  # the stored version this model was rebuilt from
    checked: datetime | None = None

    def current(self) -> Model:
        now = self.clock.now()
        if self.checked is None or (now - self.checked).total_seconds() >= self.check_seconds:
            self.checked = now
            latest = self.store.latest_model()
            if latest is not None and latest["version"] != self.source:
                rows, labels, _, _ = self.store.training_range(
                    latest["first_id"], latest["last_id"]
                )
                self.model = Model.train(rows, labels, seed=latest["seed"])
                self.source = latest["version"]
                log.info("insight model %s (from %s)", self.model.version, self.source)
        return self.model or Model.rules_only()


@dataclass
class Retrainer:
    """Job ``insight.retrain``: a new version from the newest ``limit`` stored scores."""

    store: InsightStore
    limit: int
    seed: int

    async def run(self) -> str:
        # Training is CPU work of seconds: off the event loop, so leases keep being renewed.
        return await asyncio.to_thread(self.train)

    def train(self) -> str:
        rows, labels, first, last = self.store.training(self.limit)
        model = Model.train(rows, labels, seed=self.seed)
        if model.forest is None:
            return f"{len(rows)} scores: too few to train (rules only)"
        self.store.save_model(model.version, first, last, len(rows), int(labels.sum()), self.seed)
        return (
            f"model {model.version} from {len(rows)} scores ({int(labels.sum())} confirmed frauds)"
        )
