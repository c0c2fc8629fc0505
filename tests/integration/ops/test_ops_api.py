"""The engine's operations as `paybridge serve` builds them: /metrics, /ready, and a dead letter
that reaches an SMTP sink and a signed-webhook receiver through the rules job and the queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from paybridge.app.api import build_api
from paybridge.app.engine import Engine
from paybridge.clock import ManualClock
from paybridge.ops.settings import AlertingSettings
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.integration.test_order_to_cash import START, drain, sell
from tests.receivers import SmtpSink, WebhookReceiver, smtp_sink, webhook_receiver
from tests.sandboxes import open_profile, sandbox_engine, sandbox_http, sandbox_settings

SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="


@dataclass
class World:
    engine: Engine
    clock: ManualClock
    sink: SmtpSink
    hooks: WebhookReceiver


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    with smtp_sink() as sink, webhook_receiver() as hooks:
        alerting = AlertingSettings.model_validate({
            "evaluate_seconds": 1,
            "channels": {
                "mail": {"type": "email", "host": sink.host, "port": sink.port, "security": "none",
                         "sender": "paybridge@contoso.test", "to": ["ops@contoso.test"]},
                "hook": {"type": "webhook", "url": f"{hooks.url}/alerts", "secret": "env:HOOK_SECRET"},
            },
        })  # fmt: skip
        clock = ManualClock(START)
        pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
        async with sandbox_http(pt, d365) as (pt_http, d_http):
            settings = sandbox_settings(tmp_path, alerting=alerting)
            engine = sandbox_engine(
                settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
            )
            try:
                yield World(engine, clock, sink, hooks)
            finally:
                await engine.aclose()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.anyio
async def test_a_dead_letter_reaches_mail_and_webhook_and_metrics_show_it(world: World) -> None:
    engine = world.engine
    await open_profile(engine, "NOBODY-7", None)
    await sell(engine, "NOBODY-7", "20.00")
    await drain(engine)  # no D365 customer: a dead letter
    (letter,) = engine.store.queue.dead_letters()

    world.clock.advance(1)
    assert "alerts.evaluate" in await engine.scheduler.tick()
    while await engine.worker.run_once():  # the deliveries, through the queue
        pass
    (mail,) = world.sink.mails
    assert mail.subject.endswith("FIRING warning dead-letters: payment")
    (delivery,) = world.hooks.deliveries
    event: dict[str, Any] = delivery.json()
    assert (event["type"], event["data"]["rule"]) == ("alert.firing", "dead-letters")

    viewer = engine.security.api_keys.create("viewer", label="scrape").token
    async with asgi_client(build_api(engine), "http://paybridge.test") as api:
        assert (await api.get("/metrics")).status_code == 401
        scraped = await api.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
        ready = [await api.get("/ready") for _ in range(4)]
        readiness = api._transport._inner.app.state.readiness  # type: ignore[attr-defined]
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    got = samples(scraped.text)
    assert got[("paybridge_dead_letters", (("state", "open"), ("topic", "payment")))] == 1
    assert got[("paybridge_alerts_firing", (("rule", "dead-letters"),))] == 1
    assert got[("paybridge_store_up", ())] == 1
    assert all(r.status_code == 200 for r in ready), ready[0].text
    assert ready[0].json()["checks"]["dynamics"] == {"ok": True, "detail": "ok"}
    assert readiness.runs == {"store": 4, "paytrace": 1, "dynamics": 1}  # systems probed once

    engine.store.queue.triage(int(letter["id"]), "resolve", "cli:ana", comment="linked by hand")
    world.clock.advance(400)  # past the rule's window, with no new open dead letter
    await engine.scheduler.tick()
    while await engine.worker.run_once():
        pass
    assert [m.subject.split("] ")[1] for m in world.sink.mails] == [
        "FIRING warning dead-letters: payment",
        "RESOLVED warning dead-letters: payment",
    ]
