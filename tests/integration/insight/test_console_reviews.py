"""The console's Reviews page (insight enabled): an operator releases a held payment from a
browser form (CSRF checked), it is posted once; a viewer sees the queue but cannot decide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("sklearn", reason="needs the insight extra")

from paybridge.app.api import build_api
from paybridge.app.engine import Engine
from paybridge.app.insight_settings import InsightSettings
from paybridge.clock import ManualClock
from paybridge.keys import paytrace_fact
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.integration.console.test_console_http import PASSWORD, csrf_of, sign_in
from tests.integration.insight.test_hold_and_release import (
    START,
    THRESHOLD,
    drain,
    lines,
    usual_then_spike,
)
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_settings


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Engine, httpx.AsyncClient, str]]:
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    settings = sandbox_settings(
        tmp_path, insight=InsightSettings(enabled=True, threshold=THRESHOLD)
    )
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(
            settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
        )
        try:
            _, spike = await usual_then_spike(engine)
            for name, role in (("vic", "viewer"), ("olga", "operator")):
                engine.security.users.add(name, PASSWORD, role)
            async with asgi_client(build_api(engine)) as web:
                yield engine, web, spike
        finally:
            await engine.aclose()


@pytest.mark.anyio
async def test_an_operator_releases_a_held_payment_from_the_console(
    world: tuple[Engine, httpx.AsyncClient, str],
) -> None:
    engine, web, spike = world
    key = paytrace_fact(spike, "sale")
    await sign_in(web, username="olga", password=PASSWORD)
    shown = await web.get("/reviews")
    assert shown.status_code == 200 and key in shown.text and "customer&#39;s usual" in shown.text
    assert 'href="/reviews"' in shown.text  # in the navigation
    done = await web.post(
        "/reviews/decide",
        data={"csrf": csrf_of(shown), "key": key, "action": "release", "note": "ok"},
        headers={"Origin": str(web.base_url).rstrip("/")},
    )
    assert done.status_code == 200 and "released" in done.text, done.text[:2000]
    await drain(engine)
    assert len(await lines(engine, spike)) == 1
    again = await web.post(
        "/reviews/decide",
        data={"csrf": csrf_of(shown), "key": key, "action": "release"},
        headers={"Origin": str(web.base_url).rstrip("/")},
    )
    assert again.status_code == 422 and "not held" in again.text


@pytest.mark.anyio
async def test_a_viewer_sees_the_queue_but_cannot_decide(
    world: tuple[Engine, httpx.AsyncClient, str],
) -> None:
    engine, web, spike = world
    await sign_in(web, username="vic", password=PASSWORD)
    shown = await web.get("/reviews")
    assert paytrace_fact(spike, "sale") in shown.text and "Release</button>" not in shown.text
    refused = await web.post(
        "/reviews/decide",
        data={"csrf": csrf_of(shown), "key": paytrace_fact(spike, "sale"), "action": "release"},
        headers={"Origin": str(web.base_url).rstrip("/")},
    )
    assert refused.status_code == 403
    assert engine.insight is not None and engine.insight.review.list("held")
