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
from paybridge.errors import ConfigError
from paybridge.runtime.alerts import Alert, AlertSink, log_alert, raise_alert
from paybridge.runtime.tracing import NO_TRACING, Attributes, Tracer
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


@dataclass
class PausedJob:
    """A job held back since ``since`` by a configuration refusal; next tried at ``until``."""

    reason: str
    since: datetime
    until: datetime


class Scheduler:
    """Runs each job once per slot; a job refused for its configuration (ConfigError) pauses:
    one alert, then a quiet re-try every ``pause_seconds`` until it runs again (one more alert).
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        jobs: list[ScheduledJob],
        *,
        worker: str,
        alerts: AlertSink = log_alert,
        pause_seconds: float = 60.0,
        tracer: Tracer = NO_TRACING,
    ) -> None:
        self.engine = engine
        # Each run is a span: what it publishes continues its trace (``runtime.tracing``).
        self.tracer = tracer
        self.clock = clock
        self.jobs = jobs
        self.worker = worker
        self.alerts = alerts
        self.pause_seconds = pause_seconds
        self.paused: dict[str, PausedJob] = {}
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
            held = job.name in self.paused and now < self.paused[job.name].until
            if held:
                continue  # the slot stays unclaimed: another worker may run it, or a later tick
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
        attributes: Attributes = {"paybridge.job": job.name, "paybridge.slot": slot}
        with self.tracer.span(f"job {job.name}", attributes=attributes) as span:
            try:
                result = await job.invoke(slot)
                self._finish(job, slot, f"ok {result}" if result is not None else "ok")
            except ConfigError as exc:  # the settings' fault: pause, alert once, re-try quietly
                span.set_error("paused: configuration")
                self._pause(job, str(exc))
                self._finish(job, slot, f"paused: {exc}")
                return
            except Exception as exc:  # a failed run is recorded; the next period tries again
                span.set_error(type(exc).__name__)
                log.warning("job %s failed: %s", job.name, exc)
                self._finish(job, slot, f"failed: {type(exc).__name__}: {exc}")
                return
        self._resume(job)

    def _pause(self, job: ScheduledJob, reason: str) -> None:
        now = self.clock.now()
        until = now + timedelta(seconds=self.pause_seconds)
        current = self.paused.get(job.name)
        if current is not None:
            current.until, current.reason = until, reason
            log.debug("job %s still paused: %s", job.name, reason)
            return
        self.paused[job.name] = PausedJob(reason, now, until)
        log.error(
            "job %s paused: %s; trying again every %.0fs", job.name, reason, self.pause_seconds
        )
        raise_alert(self.alerts, Alert("job.paused", job.name, reason, now))

    def _resume(self, job: ScheduledJob) -> None:
        current = self.paused.pop(job.name, None)
        if current is None:
            return
        now = self.clock.now()
        took = (now - current.since).total_seconds()
        log.warning("job %s resumed after %.0fs paused", job.name, took)
        reason = f"resumed after {took:.0f}s paused ({current.reason})"
        raise_alert(self.alerts, Alert("job.resumed", job.name, reason, now, "info"))

    async def stop(self) -> None:
        """Wait for the runs in flight (a graceful shutdown finishes them)."""
        running = [task for task in self._running.values() if not task.done()]
        if running:
            await asyncio.gather(*running, return_exceptions=True)
