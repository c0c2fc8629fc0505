"""Time-driven work on the sandbox clock: recurring charges and the nightly batch close.

Checked at the start of every request (one comparison when nothing is due) and after
``/_sandbox/clock/advance``. Events that fell between two ticks run in time order with their
scheduled time as the transaction/settlement time, so a jump of a month replays every night.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from paybridge_sandbox.paytrace.lifecycle import settle_pending
from paybridge_sandbox.paytrace.recurring import run_due
from paybridge_sandbox.paytrace.state import PayTraceSandbox

Job = Callable[[PayTraceSandbox, date, datetime], None]


def _settle_job(sandbox: PayTraceSandbox, day: date, when: datetime) -> None:
    settle_pending(sandbox, when)


class Scheduler:
    def __init__(self, sandbox: PayTraceSandbox) -> None:
        self.sandbox = sandbox
        settings = sandbox.settings
        jobs: list[tuple[time, Job]] = [(settings.recurring_run_time, run_due)]
        if settings.nightly_settlement_time is not None:
            jobs.append((settings.nightly_settlement_time, _settle_job))
        self.jobs = sorted(jobs, key=lambda job: job[0])
        self.next_due: datetime | None = None

    def tick(self) -> None:
        now = self.sandbox.clock.now()
        if self.next_due is not None and now < self.next_due:
            return
        state = self.sandbox.state
        if state.last_tick is None or state.last_tick > now:
            state.last_tick = now
        else:
            self._run_between(state.last_tick, now)
            state.last_tick = now
        state.mark("meta", "last_tick")
        self.next_due = self._first_after(now)

    def _events_on(self, day: date) -> list[tuple[datetime, Job]]:
        zone = self.sandbox.zone
        return [(datetime.combine(day, at, tzinfo=zone), job) for at, job in self.jobs]

    def _run_between(self, after: datetime, until: datetime) -> None:
        day = self.sandbox.local(after).date()
        last_day = self.sandbox.local(until).date()
        while day <= last_day:
            for when, job in self._events_on(day):
                if after < when <= until:
                    job(self.sandbox, day, when)
            day += timedelta(days=1)

    def _first_after(self, now: datetime) -> datetime:
        day = self.sandbox.local(now).date()
        for offset in range(3):
            for when, _job in self._events_on(day + timedelta(days=offset)):
                if when > now:
                    return when
        return now + timedelta(days=1)
