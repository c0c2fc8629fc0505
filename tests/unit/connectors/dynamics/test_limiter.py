"""The shared token bucket under concurrency, on a manual clock (no real sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import RequestLimiter

pytestmark = pytest.mark.anyio


class Timeline:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)  # let the other workers run, as a real sleep would

    def limiter(self, rate: float, burst: int) -> RequestLimiter:
        return RequestLimiter(rate, burst, clock=self.clock, sleep=self.sleep)


async def _workers(limiter: RequestLimiter, clock: ManualClock, n: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(clock.monotonic())

    await asyncio.gather(*(one() for _ in range(n)))
    return times


async def test_concurrent_callers_leave_one_by_one_at_the_rate() -> None:
    t = Timeline()
    limiter = t.limiter(rate=2, burst=2)
    times = await _workers(limiter, t.clock, 6)
    assert times == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


async def test_a_429_pauses_everyone_and_halves_the_rate() -> None:
    t = Timeline()
    limiter = t.limiter(rate=4, burst=4)
    await _workers(limiter, t.clock, 4)  # the burst is spent at t=0
    limiter.throttled(10)
    assert limiter.paused_until == 10.0
    assert limiter.rate == 2.0
    times = await _workers(limiter, t.clock, 4)
    assert times == [10.0, 10.5, 11.0, 11.5]


async def test_a_second_429_during_the_pause_extends_it() -> None:
    t = Timeline()
    limiter = t.limiter(rate=4, burst=1)
    limiter.throttled(5)
    t.clock.advance(2)
    limiter.throttled(5)
    assert limiter.paused_until == 7.0
    assert limiter.rate == 1.0
    times = await _workers(limiter, t.clock, 2)
    assert times == [7.0, 8.0]


async def test_successes_climb_back_additively_to_the_ceiling() -> None:
    t = Timeline()
    limiter = RequestLimiter(10, 1, clock=t.clock, sleep=t.sleep, increase=1.0, min_rate=1)
    for _ in range(4):
        limiter.throttled(0)
    assert limiter.rate == 1.0  # floor
    for _ in range(3):
        limiter.succeeded()
    assert limiter.rate == 4.0
    for _ in range(20):
        limiter.succeeded()
    assert limiter.rate == 10.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        RequestLimiter(0, 1)
