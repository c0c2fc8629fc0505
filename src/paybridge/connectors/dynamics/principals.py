"""D365 principals (app registrations): each one's F&O budget, and the pool that spreads calls over them.

F&O counts service protection per principal (spec §2.12): requests and combined execution time
in a 5-minute sliding window, and concurrent requests. ``ServiceBudget`` keeps one principal's
own calls within those limits (times ``share``, the part of the principal this process may use
when several processes sign in as it), so that a steady load meets no 429 at all; a 429 still
comes (another program on the principal, resource-based throttling) and then ``RequestLimiter``
pauses that principal for the Retry-After. ``PrincipalPool`` hands each call to the principal
that can send soonest, so several registrations share the load evenly and a throttled one is
left alone until its pause ends.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from paybridge.clock import Clock, SystemClock
from paybridge.connectors.dynamics.auth import TokenProvider
from paybridge.connectors.dynamics.limiter import RequestLimiter, Sleep


@dataclass(frozen=True)
class Limits:
    """One principal's limits per ``window_seconds`` (F&O's documented user-based values)."""

    requests: int = 6000
    window_seconds: float = 300.0
    # None: not budgeted here. F&O counts its own execution time; measured from this side it
    # includes the network, injected latency and timeouts (a stalled call counts its whole
    # timeout), so on a busy machine it holds calls back that F&O would take.
    execution_seconds: float | None = None
    concurrent: int = 52

    def __post_init__(self) -> None:
        execution = 1.0 if self.execution_seconds is None else self.execution_seconds
        if min(self.requests, self.window_seconds, execution, self.concurrent) <= 0:
            raise ValueError("service protection limits must all be > 0")

    def scaled(self, share: float) -> Limits:
        """The part ``share`` (0 < share <= 1) of these limits, never below one request."""
        if not 0 < share <= 1:
            raise ValueError("share must be > 0 and <= 1")
        return Limits(
            max(1, int(self.requests * share)),
            self.window_seconds,
            None if self.execution_seconds is None else self.execution_seconds * share,
            max(1, int(self.concurrent * share)),
        )


@dataclass(frozen=True)
class Ticket:
    """One call counted in a budget: when it started, and its entry in the window."""

    started: float
    slot: list[float]


class ServiceBudget:
    """A sliding window of this principal's request starts and execution seconds, and a cap
    on calls in flight; ``acquire`` waits until all three leave room for one more call."""

    def __init__(self, limits: Limits, *, clock: Clock | None = None, sleep: Sleep | None = None):
        self.limits = limits
        self._clock = clock or SystemClock()
        self._sleep = sleep or asyncio.sleep
        # Each call's time in the window: +inf while in flight (F&O counts it from when it
        # arrived, somewhere between sending and the answer), its end once it has ended; so
        # it never leaves this window before it has left F&O's.
        self._starts: deque[list[float]] = deque()
        self._spent: deque[tuple[float, float]] = deque()
        self._spent_total = 0.0
        self.in_flight = 0
        self._lock = asyncio.Lock()
        self._freed = asyncio.Event()

    def _expire(self, now: float) -> None:
        edge = now - self.limits.window_seconds
        while self._starts and self._starts[0][0] <= edge:
            self._starts.popleft()
        while self._spent and self._spent[0][0] <= edge:
            self._spent_total -= self._spent.popleft()[1]

    def wait_needed(self, now: float) -> float:
        """Seconds until the window has room for one more request (0: now); concurrency aside."""
        self._expire(now)
        window, wait = self.limits.window_seconds, 0.0
        over = len(self._starts) - self.limits.requests
        if over >= 0:
            wait = sorted(entry[0] for entry in self._starts)[over] + window - now
        if self.limits.execution_seconds is None:
            return max(0.0, wait)
        excess = self._spent_total - self.limits.execution_seconds
        for ended, seconds in self._spent:
            if excess < 0:
                break
            wait = max(wait, ended + window - now)
            excess -= seconds
        return max(0.0, wait)

    def counted(self) -> list[float]:
        """When the ended calls still in the window ended (monotonic seconds of this process)."""
        self._expire(self._clock.monotonic())
        return sorted(entry[0] for entry in self._starts if not math.isinf(entry[0]))

    def preload(self, ended: Sequence[float]) -> None:
        """Count calls another client of this process made as this principal (the start-up
        access check) in this window too, so the two together stay within F&O's limits."""
        for moment in sorted(ended):
            self._starts.append([moment])
        self._expire(self._clock.monotonic())

    @property
    def requests_in_window(self) -> int:
        self._expire(self._clock.monotonic())
        return len(self._starts)

    async def acquire(self) -> Ticket:
        """Wait for room in the window and a free concurrency slot, then count the call;
        the ticket goes back to ``release``."""
        async with self._lock:
            while self.in_flight >= self.limits.concurrent:
                self._freed.clear()
                await self._freed.wait()
            while (wait := self.wait_needed(self._clock.monotonic())) > 0:
                if math.isinf(wait):  # the window is full of calls still in flight
                    self._freed.clear()
                    await self._freed.wait()
                else:
                    await self._sleep(wait)
            ticket = Ticket(self._clock.monotonic(), [math.inf])
            self._starts.append(ticket.slot)
            self.in_flight += 1
            return ticket

    def release(self, ticket: Ticket) -> None:
        """The call of ``ticket`` ended (F&O charges its execution time)."""
        now = self._clock.monotonic()
        ticket.slot[0] = now
        seconds = max(0.0, now - ticket.started)
        self.in_flight = max(0, self.in_flight - 1)
        self._spent.append((now, seconds))
        self._spent_total += seconds
        self._freed.set()


@dataclass
class Principal:
    """One app registration: its tokens, its pace (429 pauses and AIMD) and its F&O budget."""

    client_id: str
    tokens: TokenProvider
    limiter: RequestLimiter | None = None
    budget: ServiceBudget | None = None
    calls: int = field(default=0)

    def wait_needed(self, now: float) -> float:
        waits = [0.0]
        if self.limiter is not None:
            waits.append(self.limiter.wait_needed(now))
        if self.budget is not None:
            waits.append(self.budget.wait_needed(now))
            if self.budget.in_flight >= self.budget.limits.concurrent:
                waits.append(0.001)
        return max(waits)

    async def acquire(self) -> Ticket | None:
        """Wait until this principal may send; the ticket goes back to ``release``."""
        if self.limiter is not None:
            await self.limiter.acquire()
        self.calls += 1
        return await self.budget.acquire() if self.budget is not None else None

    def release(self, ticket: Ticket | None) -> None:
        if self.budget is not None and ticket is not None:
            self.budget.release(ticket)


class PrincipalPool:
    """Spreads calls over principals: each call goes to the one that can send soonest (ties:
    the one used least), so a throttled principal rests while the others carry the load."""

    def __init__(self, principals: Sequence[Principal], *, clock: Clock | None = None) -> None:
        if not principals:
            raise ValueError("a principal pool needs at least one principal")
        self.principals = list(principals)
        self._clock = clock or SystemClock()

    def choose(self) -> Principal:
        now = self._clock.monotonic()
        return min(self.principals, key=lambda p: (p.wait_needed(now), p.calls))

    async def acquire(self) -> tuple[Principal, Ticket | None]:
        """The principal this call goes out as, once it may send, and its ticket."""
        principal = self.choose()
        return principal, await principal.acquire()
