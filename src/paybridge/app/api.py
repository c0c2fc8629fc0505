"""The web app of a built engine: security (keys, roles, audit, card guard), every router, the console."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from paybridge.app.console import console_services
from paybridge.app.designer import mapping_desk
from paybridge.app.engine import Engine
from paybridge.app.ops import metrics_for, readiness_for
from paybridge.config import resolve_secret
from paybridge.security.webhooks import SecretRefs
from paybridge.web import (
    routes_cards,
    routes_charges,
    routes_events,
    routes_level3,
    routes_ops,
    routes_paylinks,
    routes_refunds,
)
from paybridge.web.app import create_web_app
from paybridge.web.console import install_console
from paybridge.web.routes_admin import install_security


def build_api(engine: Engine) -> FastAPI:
    """The routers receive the engine's built services; none builds anything itself."""
    settings = engine.settings
    security = engine.security
    for source, refs in settings.web.event_secrets.items():
        # Re-read every SECRET_REFRESH, so a `paybridge webhooks rotate` needs no restart.
        secrets = SecretRefs(
            f"web.event_secrets.{source}",
            refs,
            lambda ref, name: resolve_secret(ref, name, vault=lambda n: security.vault.get(n)),
            vault=lambda: security.vault,
            clock=security.clock,
        )
        secrets.load()  # a missing secret is refused at start-up, naming the setting
        security.verifier(source, secrets)
    app = create_web_app(
        charges=engine.charges, event_intake=engine.events, cards=engine.cards, paylinks=engine.paylinks,
        limits=settings.web, refunds=engine.orders.refunds, order_book=engine.orders.book,
        metrics=metrics_for(settings, engine.store, engine.clock, sorted(engine.worker.handlers)),
        readiness=readiness_for(settings, engine.store.engine, engine.paytrace, engine.dynamics, engine.clock,
                                [(a.name, a.client) for a in engine.accounts.others]),
    )  # fmt: skip
    install_security(app, security)
    app.include_router(routes_charges.router)
    app.include_router(routes_cards.router)
    app.include_router(routes_refunds.router)
    app.include_router(routes_paylinks.router)
    app.include_router(routes_level3.router)
    app.include_router(routes_ops.ops_router(metrics_require_key=settings.metrics.require_key))
    if routes_events.INBOUND_SOURCE in settings.web.event_secrets:
        app.include_router(routes_events.router)  # only with secrets to verify its signatures
    built = console_services(settings, engine.store, security, mapping_desk(engine))
    install_console(app, built, engine.reconciler(), engine.subscriptions)
    if engine.insight is not None:
        _mount_insight(app, engine)
    return app


def _mount_insight(app: FastAPI, engine: Engine) -> None:
    """The review queue and mapping suggestions; ``app.insight`` is imported only here."""
    from paybridge.app.insight import suggest_mappings
    from paybridge.app.schema import entity_schemas
    from paybridge.web import routes_insight
    from paybridge.web.console import reviews

    insight = engine.insight
    assert insight is not None

    async def suggest(template: str, sample: Any, fields: Any, top: int) -> object:
        schemas = entity_schemas(await engine.dynamics.metadata())
        return await asyncio.to_thread(
            suggest_mappings, insight.suggester, engine.parts.templates, schemas, template,
            sample, fields, top,
        )  # fmt: skip

    app.state.insight_review = insight.review
    app.state.mapping_suggest = suggest
    app.include_router(routes_insight.router)
    app.include_router(routes_insight.mapping_router)
    app.include_router(reviews.router)
