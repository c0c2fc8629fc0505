"""Periodic jobs that run once per period even with several workers: a period is claimed in the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock
from paybridge.store.schema import schedule_runs

log = logging.getLogger("paybridge.scheduler")

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class PeriodicJob:
    """``run`` once per ``period_seconds`` slot of UTC time (offset shifts the slot's start)."""

    name: str
    period_seconds: float
    run: Job
    offset_seconds: float = 0.0

    def slot(self, now: datetime) -> int:
        return int((now.timestamp() - self.offset_seconds) // self.period_seconds)

    def invoke(self, slot: int) -> Awaitable[object]:
        return self.run()


DayJob = Callable[[date], Awaitable[object]]


@dataclass(frozen=True)
class DailyJob:
    """``run(day)`` once per local day, at the first tick at or after ``at`` in ``timezone``.

    The slot is the local date whose ``at`` last passed, so an engine started after ``at`` (or
    down at that moment) catches up at once, and a DST change never skips or repeats a day.
    ``run`` receives that date.
    """

    name: str
    at: time
    timezone: str
    run: DayJob

    def slot(self, now: datetime) -> int:
        local = now.astimezone(ZoneInfo(self.timezone))
        day = local.date() if local.time() >= self.at else local.date() - timedelta(days=1)
        return day.toordinal()

    def invoke(self, slot: int) -> Awaitable[object]:
        return self.run(date.fromordinal(slot))


ScheduledJob = PeriodicJob | DailyJob


class Scheduler:
    def __init__(
        self, engine: Engine, clock: Clock, jobs: list[ScheduledJob], *, worker: str
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.jobs = jobs
        self.worker = worker
        self._done: dict[str, int] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    def claim(self, job: ScheduledJob, slot: int) -> bool:
        """True for exactly one worker per (job, slot): the insert is the lock."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(schedule_runs).values(
                        job=job.name, slot=slot, worker=self.worker, started_at=self.clock.now()
                    )
                )
        except IntegrityError:
            return False
        return True

    def _finish(self, job: ScheduledJob, slot: int, outcome: str) -> None:
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            conn.execute(
                update(schedule_runs)
                .where(schedule_runs.c.job == job.name, schedule_runs.c.slot == slot)
                .values(finished_at=self.clock.now(), outcome=outcome[:2000])
            )

    async def tick(self, *, wait: bool = True) -> list[str]:
        """Start every job whose current slot is unclaimed; returns the names started here.

        Each run is its own task, so a long job (the morning reconciliation) never holds up a
        short one (the poller); a job still running from its previous slot is not started again.
        ``wait`` awaits the runs started by this tick.
        """
        started: list[asyncio.Task[None]] = []
        names: list[str] = []
        now = self.clock.now()
        for job in self.jobs:
            slot = job.slot(now)
            busy = job.name in self._running and not self._running[job.name].done()
            if busy or self._done.get(job.name) == slot or not self.claim(job, slot):
                self._done[job.name] = slot
                continue
            self._done[job.name] = slot
            task = asyncio.create_task(self._run(job, slot))
            self._running[job.name] = task
            started.append(task)
            names.append(job.name)
        if wait and started:
            await asyncio.gather(*started)
        return names

    async def _run(self, job: ScheduledJob, slot: int) -> None:
        try:
            result = await job.invoke(slot)
            self._finish(job, slot, f"ok {result}" if result is not None else "ok")
        except Exception as exc:  # a failed run is recorded; the next period tries again
            log.warning("job %s failed: %s", job.name, exc)
            self._finish(job, slot, f"failed: {type(exc).__name__}: {exc}")

    async def stop(self) -> None:
        """Wait for the runs in flight (a graceful shutdown finishes them)."""
        running = [task for task in self._running.values() if not task.done()]
        if running:
            await asyncio.gather(*running, return_exceptions=True)
