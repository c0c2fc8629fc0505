"""Periodic jobs run once per period, whichever and however many workers tick."""

from __future__ import annotations

import pytest

from paybridge.clock import ManualClock
from paybridge.runtime.scheduler import PeriodicJob, Scheduler
from paybridge.store import open_engine


@pytest.mark.anyio
async def test_two_workers_run_a_period_once(store_url: str) -> None:
    clock = ManualClock()
    engine = open_engine(store_url)
    runs: list[str] = []

    async def poll() -> int:
        runs.append(str(clock.now()))
        return len(runs)

    jobs = [PeriodicJob("paytrace.poll", 5, poll)]
    a = Scheduler(engine, clock, jobs, worker="a")
    b = Scheduler(engine, clock, jobs, worker="b")
    assert await a.tick() == ["paytrace.poll"]
    assert await b.tick() == []
    assert await a.tick() == []
    clock.advance(5)
    assert await b.tick() == ["paytrace.poll"]
    assert await a.tick() == []
    assert len(runs) == 2


@pytest.mark.anyio
async def test_a_failed_run_is_recorded_and_the_next_period_runs(store_url: str) -> None:
    clock = ManualClock()
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("PayTrace unreachable")

    scheduler = Scheduler(
        open_engine(store_url), clock, [PeriodicJob("job", 60, flaky)], worker="w"
    )
    assert await scheduler.tick() == ["job"]
    clock.advance(60)
    assert await scheduler.tick() == ["job"]
    assert calls == 2


def test_daily_jobs_use_an_offset_slot() -> None:
    async def noop() -> None:
        return None

    clock = ManualClock()
    job = PeriodicJob("reconcile", 86_400, noop, offset_seconds=6 * 3600)
    before = job.slot(clock.now())
    clock.advance(86_400)
    assert job.slot(clock.now()) == before + 1
