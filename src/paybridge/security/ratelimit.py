"""Per-key rate limits: a token bucket per API key on the injected monotonic clock.

Kept in memory: each web process limits on its own, so N processes allow N times the rate.
That is the right trade for a guard against a runaway client; a hard quota would live in the store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from paybridge.clock import Clock, SystemClock


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """``rate`` requests a second per key on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Clock | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock or SystemClock()
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 when the request may go now, else the seconds to wait before the next one may."""
        now = self._clock.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate
