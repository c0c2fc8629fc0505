"""The garbage collector of a long-running engine process (``paybridge worker``/``serve``)."""

from __future__ import annotations

import gc

# CPython collects its young generation every 700 allocations of container objects. A posting
# batch allocates hundreds of thousands of short-lived ones (records, rows, JSON), almost none
# in a cycle, and each collection also walked the objects start-up built: a quarter of the
# engine's CPU per payment (bench/scale.py --backlog 3000: 0.67 -> 0.49 ms).
THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Once start-up is done: keep what it built (modules, settings, the engine) out of every
    later collection, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
