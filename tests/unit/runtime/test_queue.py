"""The durable queue: inbox dedupe, per-partition order, leases, delays, dead letters, replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from paybridge.clock import ManualClock
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue
from paybridge.store import open_engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(store_url: str, clock: ManualClock) -> SqlQueue:
    return SqlQueue(open_engine(store_url), clock)


def env(key: str, partition: str = "p") -> Envelope:
    return Envelope(topic="t", key=key, partition_key=partition, payload={"k": key})


def test_a_duplicate_key_is_dropped_and_counted(queue: SqlQueue) -> None:
    assert queue.enqueue([env("a"), env("b")]) == [True, True]
    assert queue.enqueue([env("a")]) == [False]
    stats = queue.stats()
    assert (stats.ready, stats.duplicates) == (2, 1)


def test_one_partition_is_served_in_order(queue: SqlQueue) -> None:
    queue.enqueue([env("sale", "tx1"), env("refund", "tx1"), env("other", "tx2")])
    first = queue.claim("w", 10)
    assert [e.key for e in first] == ["sale", "other"]
    assert queue.claim("w", 10) == []  # the refund waits for its sale
    queue.ack([first[0]])
    assert [e.key for e in queue.claim("w", 10)] == ["refund"]


def test_a_retried_message_still_blocks_its_partition(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue([env("sale", "tx1"), env("refund", "tx1")])
    (sale,) = queue.claim("w", 10)
    queue.retry(sale, 30, "D365 busy")
    assert queue.claim("w", 10) == []
    clock.advance(31)
    again = queue.claim("w", 10)
    assert [e.key for e in again] == ["sale"]
    assert again[0].attempts == 2


def test_an_expired_lease_comes_back(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue([env("a")])
    assert len(queue.claim("crashed", 10, lease_seconds=60)) == 1
    assert queue.claim("other", 10) == []
    clock.advance(61)
    (back,) = queue.claim("other", 10)
    assert back.key == "a" and back.attempts == 2


def test_dead_letters_keep_their_reason_and_replay(queue: SqlQueue) -> None:
    queue.enqueue([env("a")])
    (msg,) = queue.claim("w", 1)
    queue.dead(msg, "no D365 customer")
    (letter,) = queue.dead_letters()
    assert letter["dead_reason"] == "no D365 customer"
    assert queue.replay(msg.id or 0) is True
    assert queue.replay(msg.id or 0) is False
    assert [e.key for e in queue.claim("w", 1)] == ["a"]


def test_release_gives_messages_back_without_counting_an_attempt(queue: SqlQueue) -> None:
    queue.enqueue([env("a")])
    (msg,) = queue.claim("w", 1)
    queue.release([msg])
    (again,) = queue.claim("w", 1)
    assert again.attempts == 1


def test_a_key_repeated_within_one_publish_is_a_duplicate(queue: SqlQueue) -> None:
    assert queue.enqueue([env("a"), env("b"), env("a")]) == [True, True, False]
    assert queue.enqueue([env("b"), env("c")]) == [False, True]
    stats = queue.stats()
    assert (stats.ready, stats.duplicates) == (3, 2)


def test_a_sqlite_store_makes_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'deeper' / 'paybridge.db'}"
    SqlQueue(open_engine(url), ManualClock()).enqueue([env("a")])
    assert (tmp_path / "var" / "deeper" / "paybridge.db").exists()


def test_a_worker_whose_lease_ran_out_changes_nothing(queue: SqlQueue, clock: ManualClock) -> None:
    """Fencing: the slow first holder's ack, retry or dead letter lands on no row."""
    queue.enqueue([env("a"), env("b", "q")])
    slow_a, slow_b = queue.claim("slow", 10, lease_seconds=60)
    clock.advance(61)
    fresh_a, fresh_b = queue.claim("fresh", 10, lease_seconds=60)
    assert fresh_a.attempts == slow_a.attempts + 1
    assert queue.ack([slow_a]) == []
    assert queue.dead(slow_b, "the first holder's reason") is False
    assert queue.retry(slow_a, 5, "late") is False
    assert queue.renew([slow_a], 60) == []
    assert queue.stats().leased == 2  # still the fresh worker's
    assert queue.ack([fresh_a]) == [fresh_a.id]
    assert queue.dead(fresh_b, "its own reason") is True
    (dead,) = queue.dead_letters()
    assert dead["key"] == "b" and "its own reason" in str(dead["dead_reason"])


def test_a_renewed_lease_is_not_taken_by_another_worker(
    queue: SqlQueue, clock: ManualClock
) -> None:
    queue.enqueue([env("a")])
    (held,) = queue.claim("busy", 1, lease_seconds=60)
    clock.advance(50)
    assert queue.renew([held], 60) == [held.id]
    clock.advance(50)  # 100 s after the claim, 50 after the renewal
    assert queue.claim("other", 1) == []
    assert queue.ack([held]) == [held.id]
