"""Insight built from settings, only when ``insight.enabled``: the screen o2c asks before posting,
the review desk, the retraining job, mapping suggestions. ``engine`` imports this module inside
that condition, so with insight off nothing of ``paybridge.insight`` is imported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paybridge.app.capabilities import Parts
from paybridge.errors import DataError
from paybridge.insight.models import JOB_NAME, ModelCache, Retrainer
from paybridge.insight.review import ReviewDesk
from paybridge.insight.screen import InsightScreen, Policy
from paybridge.insight.store import InsightStore
from paybridge.insight.suggest import SourceField, Suggester, TargetField
from paybridge.keys import ALERTS_TOPIC
from paybridge.mapping import EntitySchema, TemplateSet
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
    review = ReviewDesk(
        scores, store.queue, security.audit, parts.paytrace, store.intents,
        accounts=parts.merchant_accounts,
    )  # fmt: skip
    retrainer = Retrainer(scores, s.training_rows, s.seed)
    job = PeriodicJob(RETRAIN_JOB, s.retrain_interval_seconds, retrainer.run)
    contribution = Contribution("insight", publishes=frozenset({ALERTS_TOPIC}), jobs=[job])
    suggester = Suggester(min_confidence=s.suggest_min_confidence)
    return Insight(scores, screen, review, models, retrainer, suggester, contribution)


def sample_fields(sample: Mapping[str, Any], prefix: str = "") -> list[SourceField]:
    """A sample source record's fields as dotted paths, with their JSON type and value."""
    out: list[SourceField] = []
    for name, value in sample.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            out += sample_fields(value, f"{path}.")
            continue
        kind = {bool: "boolean", int: "integer", float: "decimal", dict: "object", list: "array"}
        shown = () if value is None or isinstance(value, dict | list) else (str(value),)
        out.append(SourceField(path, kind.get(type(value), "string"), shown))
    return out


def suggest_mappings(
    suggester: Suggester, templates: TemplateSet, schemas: Mapping[str, EntitySchema],
    template: str, sample: Mapping[str, Any], fields: Sequence[str] = (), top: int = 3,
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """For the D365 entity a template writes: each (writable, or named) field's likely sources
    among the fields of ``sample`` (a record of the template's source)."""
    try:
        compiled = templates.get(template)
    except KeyError:
        raise DataError(
            f"template: no template named {template!r}", fields={"template": template}
        ) from None
    target = str(compiled.target)
    if not target.startswith("d365."):
        raise DataError(f"template: {template} writes {target}, not a D365 entity",
                        fields={"template": template})  # fmt: skip
    entity = schemas.get(target.split(".", 1)[1])
    if entity is None:
        raise DataError(f"template: D365 has no entity {target}", fields={"template": template})
    unknown = [f for f in fields if f not in entity.fields]
    if unknown:
        raise DataError(f"field: {entity.entity_set} has no field {unknown[0]!r}",
                        fields={"field": unknown[0]})  # fmt: skip
    wanted = [entity.fields[f] for f in fields] or [
        f for f in entity.fields.values() if not f.read_only
    ]
    sources = sample_fields(sample)
    if not sources:
        raise DataError("sample: an object with the source record's fields is needed",
                        fields={"sample": "empty"})  # fmt: skip
    targets = [TargetField(f.name, f.type) for f in wanted]
    found = suggester.suggest(targets, sources, top=top)
    return {name: [s.__dict__ for s in items] for name, items in found.items()}
