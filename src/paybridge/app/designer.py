"""The mapping designer's desk built from one engine: the live ``$metadata`` as schemas, and the
samples it previews with (the last real payments from the ledger; a D365 record read live)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from paybridge.app.clients import templates_for
from paybridge.app.engine import Engine
from paybridge.app.schema import entity_schemas
from paybridge.connectors.dynamics import Query
from paybridge.console.designer import MappingDesk, Sample
from paybridge.errors import DataError
from paybridge.keys import LINE_STEP, fact_account
from paybridge.mapping import CompiledTemplate, EntitySchema, TemplateSet
from paybridge.o2c.posting import PAYMENT_TEMPLATE, replay_context
from paybridge.security.cardguard import redact
from paybridge.store.schema import ledger

SCHEMA_SECONDS = 300.0  # $metadata changes with a D365 deployment, not between two clicks
PAYTRACE_SAMPLES = 50  # one PayTrace export call each


def mapping_desk(engine: Engine) -> MappingDesk:
    settings = engine.settings
    cached: dict[str, Any] = {}

    def templates() -> TemplateSet:
        generation = engine.mapping_versions.generation()
        if cached.get("generation") != generation:
            cached["templates"] = templates_for(settings, engine.mapping_versions)
            cached["generation"] = generation
        found: TemplateSet = cached["templates"]
        return found

    async def schemas() -> Mapping[str, EntitySchema]:
        if time.monotonic() - cached.get("schemas_at", -SCHEMA_SECONDS) >= SCHEMA_SECONDS:
            cached["schemas"] = entity_schemas(await engine.dynamics.metadata())
            cached["schemas_at"] = time.monotonic()
        found: Mapping[str, EntitySchema] = cached["schemas"]
        return found

    async def samples(template: CompiledTemplate, count: int) -> list[Sample]:
        if template.name == PAYMENT_TEMPLATE:
            return await asyncio.to_thread(recent_payments, engine, count)
        if str(template.source) == "paytrace.transaction_record":
            return await paytrace_records(engine, min(count, PAYTRACE_SAMPLES))
        if template.source.system == "d365":
            rows = (await engine.dynamics.page(template.source.name, Query(top=count))).value
            return [
                Sample(f"D365 {template.source.name} #{n + 1}", row) for n, row in enumerate(rows)
            ]
        return []

    return MappingDesk(engine.mapping_versions, templates, schemas, samples, engine.security)


async def paytrace_records(engine: Engine, count: int) -> list[Sample]:
    """The last posted payments as PayTrace exports them now (masked card only, redacted again),
    with the context the poller maps them with."""
    keys = await asyncio.to_thread(_recent_keys, engine, count)
    out = []
    for key, _ in keys:
        _, qualified, kind = key.split(":", 2)
        transaction_id = qualified.rpartition("/")[2]
        if not transaction_id.isdigit():  # an ACH check: not in the card export
            continue
        try:  # each payment from its own merchant account, with that account's context
            merchant = engine.accounts.named(fact_account(key))
        except DataError:  # an account no longer configured
            continue
        record = await merchant.client.export_by_id(int(transaction_id))
        if record is not None:
            context = {"kind": kind, "currency": merchant.currency, "time_zone": merchant.timezone}
            out.append(
                Sample(f"PayTrace {qualified} ({kind})", redact(record.model_dump()), context)
            )
    return out


def _recent_keys(engine: Engine, count: int) -> list[tuple[str, str | None]]:
    query = (
        select(ledger.c.event_key, ledger.c.template_version)
        .where(ledger.c.step == LINE_STEP, ledger.c.status == "posted")
        .order_by(ledger.c.id.desc())
        .limit(count)
    )
    with engine.store.engine.connect() as conn:
        return [(str(k), v) for k, v in conn.execute(query).all() if str(k).startswith("paytrace:")]


def recent_payments(engine: Engine, count: int) -> list[Sample]:
    """The last ``count`` payments posted to D365, as their line was mapped (what ``paybridge
    mapping dry-run`` rebuilds for one)."""
    store = engine.store
    out = []
    for key, version in _recent_keys(engine, count):
        intent = store.intents.get(key, LINE_STEP)
        payload = store.queue.payload(key)
        if intent is None or payload is None:
            continue
        source, context = replay_context(payload, intent.detail, engine.settings.dynamics)
        out.append(Sample(f"{key} (mapped with {version})", source, context, version))
    return out
