"""The start-up check: a published topic without a handler, or an enabled job not scheduled, stops the engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

import pytest

from paybridge.errors import ConfigError
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.scheduler import DailyJob, PeriodicJob
from paybridge.runtime.wiring import Contribution, check_wiring


async def handler(envs: Sequence[Envelope]) -> list[Outcome]:
    return [Outcome.done()] * len(envs)


async def job() -> str:
    return "ok"


def test_every_published_topic_is_handled_once() -> None:
    parts = [
        Contribution("o2c", frozenset({"payment"}), {"payment": handler}, [PeriodicJob("poll", 5, job)]),
        Contribution("charging", frozenset({"payment", "charge.resolve"}), {"charge.resolve": handler}),
    ]  # fmt: skip
    handlers = check_wiring(parts, {"poll": "paytrace.poll_interval_seconds"})
    assert sorted(handlers) == ["charge.resolve", "payment"]


def test_a_published_topic_without_a_handler_refuses_to_start() -> None:
    parts = [
        Contribution("o2c", frozenset({"payment"}), {"payment": handler}),
        Contribution("charging", frozenset({"payment", "charge.resolve"})),
    ]
    with pytest.raises(ConfigError, match=r"charging publishes topic 'charge.resolve'"):
        check_wiring(parts, {})


def test_two_handlers_for_one_topic_refuse_to_start() -> None:
    parts = [
        Contribution("a", handlers={"payment": handler}),
        Contribution("b", handlers={"payment": handler}),
    ]
    with pytest.raises(ConfigError, match=r"topic 'payment' has two handlers \(a and b\)"):
        check_wiring(parts, {})


def test_an_enabled_job_that_is_not_scheduled_refuses_to_start() -> None:
    parts = [Contribution("billing", jobs=[PeriodicJob("other", 1, job)])]
    with pytest.raises(ConfigError, match=r"job 'billing.charge' is enabled by billing.enabled"):
        check_wiring(parts, {"billing.charge": "billing.enabled"})


def test_a_job_scheduled_twice_refuses_to_start() -> None:
    parts = [Contribution("a", jobs=[PeriodicJob("poll", 1, job)]),
             Contribution("b", jobs=[PeriodicJob("poll", 1, job)])]  # fmt: skip
    with pytest.raises(ConfigError, match="scheduled twice"):
        check_wiring(parts, {})


async def day_job(day: date) -> str:
    return day.isoformat()


def test_a_daily_job_runs_for_the_local_day_whose_time_has_passed() -> None:
    morning = DailyJob("reconcile.morning", time(6, 0), "America/Los_Angeles", day_job)
    # 13:59 UTC on 10 March is 06:59 PDT: the 10th's 06:00 has passed.
    assert date.fromordinal(morning.slot(datetime(2026, 3, 10, 13, 59, tzinfo=UTC))) == date(
        2026, 3, 10
    )
    # 12:59 UTC is 05:59 PDT: still the 9th's slot (an engine started now catches up on it).
    assert date.fromordinal(morning.slot(datetime(2026, 3, 10, 12, 59, tzinfo=UTC))) == date(
        2026, 3, 9
    )
    # Across the spring-forward night (8 March 2026) a day is neither skipped nor repeated.
    slots = {morning.slot(datetime(2026, 3, 7, h, tzinfo=UTC)) for h in range(24)}
    slots |= {morning.slot(datetime(2026, 3, 8, h, tzinfo=UTC)) for h in range(24)}
    slots |= {morning.slot(datetime(2026, 3, 9, h, tzinfo=UTC)) for h in range(24)}
    assert sorted(date.fromordinal(s) for s in slots) == [
        date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)
    ]  # fmt: skip
