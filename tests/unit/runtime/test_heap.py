"""heap.settle: start-up's objects frozen, the young generation collected less often."""

from __future__ import annotations

import gc

from paybridge.runtime import heap


def test_settle_freezes_start_up_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        built_at_start_up = [object() for _ in range(10)]  # noqa: F841 - kept alive on purpose
        heap.settle()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == heap.THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
