"""Each principal's F&O budget (sliding window, execution time, concurrency) and the pool over them."""

from __future__ import annotations

import asyncio

import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import (
    Limits,
    Principal,
    PrincipalPool,
    RequestLimiter,
    ServiceBudget,
    StaticTokenProvider,
)

pytestmark = pytest.mark.anyio


class Timeline:
    def __init__(self) -> None:
        self.clock = ManualClock()

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await asyncio.sleep(0)

    def budget(self, limits: Limits) -> ServiceBudget:
        return ServiceBudget(limits, clock=self.clock, sleep=self.sleep)

    def principal(self, name: str, limits: Limits, rate: float = 1000.0) -> Principal:
        limiter = RequestLimiter(rate, int(rate), clock=self.clock, sleep=self.sleep)
        return Principal(name, StaticTokenProvider(name), limiter, self.budget(limits))


def most_in_any_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_a_busy_caller_gets_the_whole_window_and_never_more() -> None:
    t = Timeline()
    budget = t.budget(Limits(requests=10, window_seconds=10, execution_seconds=100, concurrent=5))
    times = []
    for _ in range(100):
        ticket = await budget.acquire()
        times.append(ticket.started)
        budget.release(ticket)
    assert most_in_any_window(times, 10) == 10
    # 100 requests in 100 s of a 10-per-10-s budget: the last starts at 90 s, 100% of the limit.
    assert times[-1] == pytest.approx(90.0)


async def test_execution_seconds_hold_back_the_next_call() -> None:
    t = Timeline()
    budget = t.budget(Limits(requests=100, window_seconds=10, execution_seconds=5, concurrent=5))
    starts = []
    for _ in range(4):
        ticket = await budget.acquire()
        starts.append(ticket.started)
        t.clock.advance(2.0)  # each call runs 2 s
        budget.release(ticket)
    # 2 + 2 + 2 = 6 s spent by t=6 (over 5): the fourth waits until the first 2 s leave (t=12).
    assert starts == [0.0, 2.0, 4.0, pytest.approx(12.0)]


async def test_no_more_calls_in_flight_than_the_limit() -> None:
    t = Timeline()
    budget = t.budget(Limits(requests=100, window_seconds=10, execution_seconds=100, concurrent=2))
    peak, in_flight = 0, 0

    async def call() -> None:
        nonlocal peak, in_flight
        ticket = await budget.acquire()
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        budget.release(ticket)

    await asyncio.gather(*(call() for _ in range(10)))
    assert peak == 2 and budget.in_flight == 0


async def test_the_pool_spreads_calls_evenly_and_doubles_the_budget() -> None:
    t = Timeline()
    limits = Limits(requests=10, window_seconds=10, execution_seconds=100, concurrent=5)
    pool = PrincipalPool([t.principal("a", limits), t.principal("b", limits)], clock=t.clock)
    used, times = [], []
    for _ in range(100):
        principal, ticket = await pool.acquire()
        used.append(principal.client_id)
        times.append(t.clock.monotonic())
        principal.release(ticket)
    assert used.count("a") == used.count("b") == 50
    assert most_in_any_window(times, 10) == 20
    assert times[-1] == pytest.approx(40.0)  # 20 per 10 s: twice one principal's budget


async def test_a_throttled_principal_rests_while_the_other_carries_the_load() -> None:
    t = Timeline()
    limits = Limits(requests=1000, window_seconds=10, execution_seconds=100, concurrent=5)
    a, b = t.principal("a", limits), t.principal("b", limits)
    pool = PrincipalPool([a, b], clock=t.clock)
    assert a.limiter is not None
    a.limiter.throttled(30)  # a 429 with Retry-After: 30
    used = []
    for _ in range(5):
        principal, ticket = await pool.acquire()
        used.append(principal.client_id)
        principal.release(ticket)
    assert used == ["b"] * 5
    assert t.clock.monotonic() < 1.0  # nobody waited for a's pause


async def test_a_call_in_flight_stays_in_the_window_until_it_ends() -> None:
    """F&O counts a call from when it arrives, after it was sent: the window counts it from
    its end, and a full window of calls in flight waits for one to end, not for a time."""
    t = Timeline()
    budget = t.budget(Limits(requests=2, window_seconds=10, execution_seconds=100, concurrent=5))
    first = await budget.acquire()
    second = await budget.acquire()
    waiting = asyncio.create_task(budget.acquire())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done() and t.clock.monotonic() == 0.0  # no timed sleep on a guess
    t.clock.advance(3.0)
    budget.release(first)  # ended at t=3: leaves the window at t=13, not t=10
    third = await waiting
    assert third.started == pytest.approx(13.0)
    budget.release(second)
    budget.release(third)


def test_limits_are_checked_and_scaled_for_a_share() -> None:
    with pytest.raises(ValueError, match="> 0"):
        Limits(requests=0)
    assert Limits().scaled(0.25) == Limits(1500, 300.0, None, 13)
    assert Limits(execution_seconds=1200).scaled(0.25).execution_seconds == 300
    with pytest.raises(ValueError, match="share"):
        Limits().scaled(1.5)
    with pytest.raises(ValueError, match="at least one principal"):
        PrincipalPool([])


async def test_calls_of_the_start_up_check_count_in_the_engines_window() -> None:
    t = Timeline()
    checker = t.budget(Limits(requests=3, window_seconds=10, execution_seconds=100, concurrent=5))
    for _ in range(2):
        checker.release(await checker.acquire())
    t.clock.advance(1.0)
    engine = t.budget(Limits(requests=3, window_seconds=10, execution_seconds=100, concurrent=5))
    engine.preload(checker.counted())
    first = await engine.acquire()
    second = await engine.acquire()  # the check's two calls leave the window at t=10
    assert (first.started, second.started) == (1.0, pytest.approx(10.0))
