"""Insight built from settings, only when ``insight.enabled``: the screen o2c asks before posting,
the review desk, the retraining job, mapping suggestions. ``engine`` imports this module inside
that condition, so with insight off nothing of ``paybridge.insight`` is imported."""

from __future__ import annotations

from dataclasses import dataclass

from paybridge.app.capabilities import Parts
from paybridge.insight.models import JOB_NAME, ModelCache, Retrainer
from paybridge.insight.review import ReviewDesk
from paybridge.insight.screen import InsightScreen, Policy
from paybridge.insight.store import InsightStore
from paybridge.insight.suggest import Suggester
from paybridge.keys import ALERTS_TOPIC
from paybridge.runtime.scheduler import PeriodicJob
from paybridge.runtime.wiring import Contribution
from paybridge.security.context import SecurityContext

RETRAIN_JOB = JOB_NAME


@dataclass
class Insight:
    store: InsightStore
    screen: InsightScreen
    review: ReviewDesk
    models: ModelCache
    retrainer: Retrainer
    suggester: Suggester
    contribution: Contribution


def policy_of(parts: Parts) -> Policy:
    s = parts.settings.insight
    return Policy(
        threshold=s.threshold, action=s.action, hold_kinds=frozenset(s.hold_kinds),
        recheck_seconds=s.recheck_seconds, history_days=s.history_days,
        timezone=parts.settings.paytrace.timezone, bin_countries=dict(s.bin_countries),
    )  # fmt: skip


def build_insight(parts: Parts, security: SecurityContext) -> Insight:
    s, store = parts.settings.insight, parts.store
    scores = InsightStore(store.engine, parts.clock)
    models = ModelCache(scores, parts.clock)
    screen = InsightScreen(scores, models, store.queue, policy_of(parts), parts.clock)
    review = ReviewDesk(scores, store.queue, security.audit, parts.paytrace, store.intents)
    retrainer = Retrainer(scores, s.training_rows, s.seed)
    job = PeriodicJob(RETRAIN_JOB, s.retrain_interval_seconds, retrainer.run)
    contribution = Contribution("insight", publishes=frozenset({ALERTS_TOPIC}), jobs=[job])
    suggester = Suggester(min_confidence=s.suggest_min_confidence)
    return Insight(scores, screen, review, models, retrainer, suggester, contribution)
