"""A configuration refusal pauses the topic or job, alerts once, spends no attempt, and resumes
by itself when the condition clears: ten minutes of a wrong client secret dead-letter nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import CustomerSaleRequest
from paybridge.errors import ConfigError
from paybridge.runtime.alerts import Alert
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.scheduler import PeriodicJob, Scheduler
from paybridge.runtime.worker import Worker
from paybridge.store import open_engine, sqlite_url
from paybridge.store.schema import queue
from paybridge_sandbox.dynamics.settings import ClientRegistration
from tests.sandboxes import open_profile, open_sandboxes

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@pytest.mark.anyio
async def test_ten_minutes_of_a_wrong_client_secret_dead_letter_nothing(tmp_path: Path) -> None:
    async with open_sandboxes(tmp_path, START) as box:
        engine, clock = box.engine, box.clock
        alerts: list[Alert] = []
        engine.worker.alerts = alerts.append
        await open_profile(engine, "SHOP-1", "US-001")
        sale = await engine.paytrace.sale_by_customer(
            CustomerSaleRequest(customer_id="SHOP-1", amount=Decimal("42.00"))
        )
        authority = box.d365_app.sandbox.authority
        right = authority.settings
        # The app's secret in Entra ID is not the one PayBridge was given (rotated too early).
        authority.settings = dataclasses.replace(
            right, clients=(ClientRegistration("sandbox-client", "rotated-secret"),)
        )
        await engine.ingest.poll_once()
        for _ in range(120):  # ten minutes, looked at every five seconds
            await engine.worker.run_once()
            clock.advance(5)
        stats = engine.store.queue.stats()
        assert stats.dead == 0 and stats.done == 0 and stats.ready == 1
        assert [a.kind for a in alerts] == ["topic.paused"]
        assert "invalid_client" in alerts[0].reason and "rotated-secret" not in alerts[0].reason
        with engine.store.engine.connect() as conn:
            counted = conn.execute(select(queue.c.attempts, queue.c.failures)).all()
        assert [tuple(row) for row in counted] == [(0, 0)]  # ten minutes refused, none spent

        authority.settings = right  # the secret is put right
        clock.advance(30)
        while await engine.worker.run_once():
            pass
        stats = engine.store.queue.stats()
        assert stats.dead == 0 and stats.done == 1
        assert [a.kind for a in alerts] == ["topic.paused", "topic.resumed"]
        lines = await engine.dynamics.query("CustomerPaymentJournalLines", None)
        assert [line["PaymentReference"] for line in lines] == [str(sale.transaction_id)]


@pytest.mark.anyio
async def test_a_paused_topic_holds_its_messages_back_uncounted(tmp_path: Path) -> None:
    clock = ManualClock(START)
    q = SqlQueue(open_engine(sqlite_url(tmp_path / "q.db")), clock)
    q.enqueue(
        [Envelope(topic="t", key=f"k{n}", partition_key=f"p{n}", payload={}) for n in range(3)]
    )
    broken = True
    calls: list[int] = []

    async def handler(envs: Sequence[Envelope]) -> list[Outcome]:
        calls.append(len(envs))
        if broken:
            raise ConfigError("token rejected: set dynamics.client_secret", system="dynamics")
        return [Outcome.done() for _ in envs]

    alerts: list[Alert] = []
    worker = Worker(q, {"t": handler}, alerts=alerts.append, pause_seconds=30)
    assert await worker.run_once() == 3
    assert worker.paused["t"].reason.startswith("configuration: dynamics: token rejected")
    q.enqueue([Envelope(topic="t", key="late", partition_key="late", payload={})])
    assert await worker.run_once() == 1  # claimed while paused: given back, the handler not asked
    assert calls == [3]
    assert await worker.run_once() == 0  # nothing is due before the re-probe
    clock.advance(30)
    assert await worker.run_once() == 4 and calls == [3, 4]  # the re-probe; still refused
    broken = False
    clock.advance(30)
    assert await worker.run_once() == 4
    assert q.stats().done == 4 and q.stats().dead == 0
    assert [a.kind for a in alerts] == ["topic.paused", "topic.resumed"]
    assert "t" not in worker.paused


@pytest.mark.anyio
async def test_a_job_refused_for_its_settings_pauses_with_one_alert_then_resumes(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    refused = True
    runs = 0

    async def poll() -> None:
        nonlocal runs
        runs += 1
        if refused:
            raise ConfigError("PayTrace refuses the integrator id (981)", system="paytrace")

    alerts: list[Alert] = []
    job = PeriodicJob("paytrace.poll", 5.0, poll)
    scheduler = Scheduler(engine, clock, [job], worker="w", alerts=alerts.append, pause_seconds=60)
    for _ in range(60):  # five minutes of 5-second periods
        await scheduler.tick()
        clock.advance(5)
    assert runs == 5  # the first run, then one quiet re-try a minute, not one every 5 seconds
    assert [a.kind for a in alerts] == ["job.paused"]
    refused = False
    clock.advance(60)
    await scheduler.tick()
    assert [a.kind for a in alerts] == ["job.paused", "job.resumed"]
    await scheduler.tick()
    clock.advance(5)
    await scheduler.tick()
    assert runs == 7 and not scheduler.paused
