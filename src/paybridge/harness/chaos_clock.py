"""The chaos run's clock: every process of the run lives a fall-back night of the merchant's zone.

PayBridge reads time through ``paybridge.clock.SystemClock`` and has no setting that moves it, so
the run shifts it: the engine processes it starts (workers, ``serve``, the CLI commands) get
``chaos_time/`` first on ``PYTHONPATH``, whose ``sitecustomize`` adds ``PAYBRIDGE_CHAOS_SHIFT``
seconds to ``SystemClock.now`` before anything else runs. The harness moves both sandboxes'
clocks forward by the same amount (their ``/_sandbox/clock/advance``) and uses a
``ShiftedClock`` itself, so the three agree: the run starts a little before the repeated hour of
the next first Sunday of November and its storefront sells at ambiguous local times.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SHIFT_ENV = "PAYBRIDGE_CHAOS_SHIFT"
SHIM = Path(__file__).resolve().parent / "chaos_time"


class ShiftedClock:
    """The real clock moved by a fixed number of seconds (``paybridge.clock.Clock``)."""

    def __init__(self, shift_seconds: float = 0.0) -> None:
        self.shift = timedelta(seconds=shift_seconds)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def monotonic(self) -> float:
        return time.monotonic()


def next_fall_back(after: datetime, zone: str) -> datetime:
    """The instant (UTC) the merchant's clocks next go back: the first Sunday of November in
    US zones. Found by the offset, not by the rule: the hour in which ``utcoffset`` drops."""
    tz = ZoneInfo(zone)
    moment = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 400):
        following = moment + timedelta(hours=1)
        before, later = moment.astimezone(tz).utcoffset(), following.astimezone(tz).utcoffset()
        if before is not None and later is not None and later < before and following > after:
            return following
        moment = following
    raise ValueError(f"{zone} has no fall-back within 400 days of {after:%Y-%m-%d}")


def dst_shift(
    zone: str, lead_seconds: float, now: datetime | None = None
) -> tuple[float, datetime]:
    """Seconds to add to the real clock so that it reads ``lead_seconds`` before the next
    fall-back of ``zone``, and that instant."""
    real = now or datetime.now(UTC)
    fall_back = next_fall_back(real, zone)
    return (fall_back - real).total_seconds() - lead_seconds, fall_back


def shifted_env(env: dict[str, str], shift_seconds: float) -> dict[str, str]:
    """``env`` for an engine process living ``shift_seconds`` ahead (unchanged when 0)."""
    if not shift_seconds:
        return env
    path = os.pathsep.join(p for p in (str(SHIM), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, SHIFT_ENV: repr(shift_seconds)}
