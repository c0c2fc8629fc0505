"""Journal line numbers and generations are allocated once, even by processes racing for them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from paybridge.clock import SystemClock
from paybridge.runtime.cursors import Cursors
from paybridge.store import open_engine


def test_racing_allocations_never_hand_out_a_number_twice(store_url: str) -> None:
    engine = open_engine(store_url)
    workers = [Cursors(engine, SystemClock()) for _ in range(4)]

    def allocate(cursors: Cursors) -> list[int]:
        numbers: list[int] = []
        for _ in range(25):
            numbers += cursors.next_numbers("journal-line:usmf:J1", 3)
        return numbers

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(allocate, workers))
    every = sorted(n for numbers in results for n in numbers)
    assert every == list(range(1, 4 * 25 * 3 + 1))


def test_a_generation_moves_on_once_however_many_try(store_url: str) -> None:
    engine = open_engine(store_url)
    workers = [Cursors(engine, SystemClock()) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        moved = list(pool.map(lambda c: c.advance_if("gen:usmf", "1", "2", missing="1"), workers))
    assert moved.count(True) == 1
    assert workers[0].get("gen:usmf") == "2"
