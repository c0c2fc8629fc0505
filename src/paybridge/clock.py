"""Injected time, ids and randomness, so that tests assert exact schedules without sleeping."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the time as an aware UTC datetime and a monotonic reading in seconds."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        import time

        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


IdFactory = Callable[[], str]


def uuid_ids() -> IdFactory:
    """Random UUID4 strings: the production id factory."""
    return lambda: str(uuid.uuid4())


def sequential_ids(prefix: str = "id-") -> IdFactory:
    """Deterministic ids for tests: ``id-1``, ``id-2``..."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"
