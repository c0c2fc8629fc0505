"""Loaded at start-up by processes the chaos run starts with this folder on ``PYTHONPATH``.

Adds ``PAYBRIDGE_CHAOS_SHIFT`` seconds to ``paybridge.clock.SystemClock.now`` (see
``paybridge.harness.chaos_clock``). Nothing else is changed; without the variable it does nothing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta


def _install() -> None:
    raw = os.environ.get("PAYBRIDGE_CHAOS_SHIFT")
    if not raw:
        return
    shift = timedelta(seconds=float(raw))
    from paybridge.clock import SystemClock

    def now(self: SystemClock) -> datetime:
        return datetime.now(UTC) + shift

    SystemClock.now = now  # type: ignore[method-assign]


_install()
