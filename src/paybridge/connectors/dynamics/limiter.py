"""RequestLimiter: one token bucket per D365 principal, shared by every concurrent caller (AIMD)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from paybridge.clock import Clock, SystemClock

Sleep = Callable[[float], Awaitable[None]]


class RequestLimiter:
    """Paces requests of one principal; a 429 pauses everyone and lowers the rate.

    Callers queue on one lock, so after a pause they leave one by one at the bucket's rate
    instead of all at once. The rate falls multiplicatively on each 429 and climbs back
    additively on each success (AIMD), the scheme TCP uses to share a link without collapse.
    """

    def __init__(
        self,
        rate: float = 20.0,
        burst: int = 20,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        min_rate: float = 0.5,
        increase: float = 0.1,
        decrease: float = 0.5,
    ) -> None:
        if rate <= 0 or burst < 1 or not 0 < decrease < 1:
            raise ValueError("rate > 0, burst >= 1 and 0 < decrease < 1 are required")
        self._clock = clock or SystemClock()
        self._sleep = sleep or asyncio.sleep
        self.max_rate = rate
        self.rate = rate
        self.burst = float(burst)
        self.min_rate = min(min_rate, rate)
        self.increase = increase
        self.decrease = decrease
        self._tokens = float(burst)
        self._stamp = self._clock.monotonic()
        self._paused_until = self._stamp
        self._lock = asyncio.Lock()

    @property
    def paused_until(self) -> float:
        """Monotonic time before which nobody may send."""
        return self._paused_until

    def _refill(self, now: float) -> None:
        if now <= self._stamp:
            return
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_needed(self, now: float) -> float:
        """Seconds before this limiter lets one more request go (0: now)."""
        if now < self._paused_until:
            return self._paused_until - now
        self._refill(now)
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) / self.rate

    async def acquire(self) -> None:
        """Wait for this caller's turn and take one token."""
        async with self._lock:
            while True:
                wait = self.wait_needed(self._clock.monotonic())
                if wait <= 0:
                    self._tokens -= 1.0
                    return
                await self._sleep(wait)

    def throttled(self, retry_after: float) -> None:
        """The server said 429: pause everyone for ``retry_after`` and slow down."""
        now = self._clock.monotonic()
        self._paused_until = max(self._paused_until, now + max(0.0, retry_after))
        self.rate = max(self.min_rate, self.rate * self.decrease)
        # Tokens saved up before the 429 must not burst out the moment the pause ends; exactly
        # one caller goes at the Retry-After moment, the rest follow at the lowered rate.
        self._refill(now)
        self._tokens = 1.0 if retry_after > 0 else min(self._tokens, 1.0)
        self._stamp = max(self._stamp, self._paused_until)

    def succeeded(self) -> None:
        """A request went through: creep back toward the configured rate."""
        self.rate = min(self.max_rate, self.rate + self.increase)
