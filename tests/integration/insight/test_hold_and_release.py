"""Insight in the engine, in-process against both sandboxes: a suspicious payment waits for a
person (not in D365), is posted exactly once after a release, never after a confirm (voided in
PayTrace), and a release that meets a leased message still posts once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

pytest.importorskip("sklearn", reason="needs the insight extra")

from paybridge.app.engine import Engine
from paybridge.app.insight_settings import InsightSettings
from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import CustomerSaleRequest
from paybridge.errors import DataError
from paybridge.keys import paytrace_fact
from paybridge.store.schema import queue
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import open_profile, sandbox_engine, sandbox_http, sandbox_settings

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
# Rules only (no model trained yet): AVS "No Match" (the sandbox's answer, 2 points) plus an
# amount 5x the customer's usual (3 points) reaches 5/26.
THRESHOLD = 0.19


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Engine, ManualClock]]:
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    settings = sandbox_settings(
        tmp_path, insight=InsightSettings(enabled=True, threshold=THRESHOLD)
    )
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        built = sandbox_engine(settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365)
        yield built, clock


async def sell(engine: Engine, profile: str, amount: str) -> str:
    reply = await engine.paytrace.sale_by_customer(
        CustomerSaleRequest(customer_id=profile, amount=Decimal(amount))
    )
    return str(reply.transaction_id)


async def drain(engine: Engine) -> None:
    await engine.ingest.poll_once()
    while await engine.worker.run_once():
        pass


async def lines(engine: Engine, tid: str) -> list[dict[str, Any]]:
    rows = await engine.dynamics.query("CustomerPaymentJournalLines", None)
    return [r for r in rows if str(r["PaymentId"]).startswith(f"PT-{tid}-")]


def alerts_about(engine: Engine, tid: str) -> list[str]:
    """The keys (less their minute) of the alerts published about PayTrace transaction ``tid``."""
    with engine.store.engine.connect() as conn:
        keys = conn.execute(select(queue.c.key).where(queue.c.topic == "alert")).scalars()
        return [k.rsplit(":", 1)[0] for k in keys if f"paytrace:{tid}:" in k]


async def usual_then_spike(engine: Engine) -> tuple[list[str], str]:
    await open_profile(engine, "SHOP-1", "US-001")
    usual = [await sell(engine, "SHOP-1", a) for a in ("10.00", "12.00", "11.00")]
    spike = await sell(engine, "SHOP-1", "900.00")
    await drain(engine)
    return usual, spike


@pytest.mark.anyio
async def test_a_suspicious_sale_waits_then_posts_once_after_release(
    engine: tuple[Engine, ManualClock],
) -> None:
    eng, clock = engine
    assert eng.insight is not None
    usual, spike = await usual_then_spike(eng)
    for tid in usual:
        assert len(await lines(eng, tid)) == 1
    assert await lines(eng, spike) == []
    held = eng.insight.review.list("held")
    key = paytrace_fact(spike, "sale")
    assert [r.key for r in held] == [key]
    assert held[0].score >= THRESHOLD and held[0].model_version == "rules-only"
    assert any("x the customer's usual" in reason for reason in held[0].reasons)
    clock.advance(3600)  # waiting is not failing: an hour of rechecks dead-letters nothing
    for _ in range(5):
        await drain(eng)
        clock.advance(60)
    assert await lines(eng, spike) == []
    assert eng.store.queue.stats().dead == 0
    done = eng.insight.review.release(key, actor="user:ops", note="customer called")
    assert done.state == "released"
    await drain(eng)
    await drain(eng)
    assert len(await lines(eng, spike)) == 1
    with pytest.raises(DataError, match="not held"):
        eng.insight.review.release(key, actor="user:ops")
    entries = eng.security.audit.search(action="insight.release")
    assert [(e.actor, e.target) for e in entries] == [("user:ops", key)]


@pytest.mark.anyio
async def test_a_confirmed_fraud_is_voided_and_never_posted(
    engine: tuple[Engine, ManualClock],
) -> None:
    eng, clock = engine
    assert eng.insight is not None
    _, spike = await usual_then_spike(eng)
    key = paytrace_fact(spike, "sale")
    done = await eng.insight.review.confirm(key, actor="user:ops", note="stolen card", void=True)
    assert done.state == "confirmed"
    record = await eng.paytrace.export_by_id(int(spike))
    assert record is not None and record.is_voided
    clock.advance(120)
    await drain(eng)
    await drain(eng)
    assert await lines(eng, spike) == []
    assert eng.store.queue.stats().dead == 0
    # PayTrace's void fact is scored like any other, but the void was the operator's own act:
    # no "scored above the threshold" alert for it (the held sale alerted once, when held).
    void = eng.insight.store.get(paytrace_fact(spike, "void"))
    assert void is not None and void.state == "clear"
    assert alerts_about(eng, spike) == [f"alert:payment_held:{key}"]
    # Confirming again changes nothing and voids nothing twice.
    again = await eng.insight.review.confirm(key, actor="user:ops", void=True)
    assert "already confirmed" in again.message


@pytest.mark.anyio
async def test_a_release_while_another_worker_holds_the_message_still_posts_once(
    engine: tuple[Engine, ManualClock],
) -> None:
    eng, clock = engine
    assert eng.insight is not None
    _, spike = await usual_then_spike(eng)
    key = paytrace_fact(spike, "sale")
    clock.advance(40)  # the held message is due for its recheck
    leased = eng.store.queue.claim("other-worker", 10, lease_seconds=60)
    assert key in [e.key for e in leased]
    eng.insight.review.release(key, actor="user:ops")  # the message is leased: not woken
    # The other worker read "held" before the release and gives the message back for later.
    mine = [e for e in leased if e.key == key]
    assert eng.store.queue.postpone(mine, 30, "held for review")
    await drain(eng)
    assert await lines(eng, spike) == []  # not yet due
    clock.advance(31)
    await drain(eng)
    await drain(eng)
    assert len(await lines(eng, spike)) == 1


@pytest.mark.anyio
async def test_the_retraining_job_records_a_version_that_new_scores_carry(
    engine: tuple[Engine, ManualClock],
) -> None:
    eng, clock = engine
    assert eng.insight is not None
    await open_profile(eng, "SHOP-2", "US-002")
    for n in range(60):
        await sell(eng, "SHOP-2", f"{10 + n % 7}.00")
    await drain(eng)
    said = await eng.insight.retrainer.run()
    assert said.startswith("model if-")
    clock.advance(60)
    tid = await sell(eng, "SHOP-2", "13.00")
    await drain(eng)
    row = eng.insight.store.get(paytrace_fact(tid, "sale"))
    assert row is not None and row.model_version == said.split()[1]
