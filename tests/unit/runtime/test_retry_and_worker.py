"""Retry policy as a pure function of attempt and RNG; the worker's classification by error tree."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from paybridge.clock import ManualClock
from paybridge.errors import DataError, InDoubtError, RetryableError
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.retry import RetryPolicy
from paybridge.runtime.worker import Worker, outcome_for
from paybridge.store import open_engine, sqlite_url


def test_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=10, max_attempts=5)
    rng = random.Random(3)
    delays = [policy.delay(n, rng) for n in range(1, 8)]
    assert all(0 <= d <= min(10, 2 ** (n - 1)) for n, d in zip(range(1, 8), delays, strict=True))
    assert policy.delay(1, random.Random(3), retry_after=42) == 42
    assert [policy.delay(4, random.Random(9)) for _ in range(2)] == [
        policy.delay(4, random.Random(9))
    ] * 2
    assert policy.exhausted(5) and not policy.exhausted(4)


def test_errors_are_classified_by_reaction() -> None:
    assert outcome_for(DataError("bad")).status == "dead"
    retry = outcome_for(RetryableError("busy", retry_after=7))
    assert (retry.status, retry.retry_after) == ("retry", 7)
    assert outcome_for(InDoubtError("t", reference="r")).status == "retry"
    assert outcome_for(RuntimeError("bug")).status == "retry"


@pytest.mark.anyio
async def test_worker_retries_then_dead_letters(tmp_path: Path) -> None:
    clock = ManualClock()
    queue = SqlQueue(open_engine(sqlite_url(tmp_path / "w.db")), clock)
    queue.enqueue(
        [
            Envelope(topic="t", key="ok", partition_key="a", payload={}),
            Envelope(topic="t", key="flaky", partition_key="b", payload={}),
            Envelope(topic="nobody", key="lost", partition_key="c", payload={}),
        ]
    )

    async def handler(envs: Sequence[Envelope]) -> list[Outcome]:
        return [Outcome.done() if e.key == "ok" else Outcome.retry("busy") for e in envs]

    worker = Worker(
        queue,
        {"t": handler},
        policy=RetryPolicy(base_seconds=1, cap_seconds=1, max_attempts=2),
        rng=random.Random(1),
    )
    assert await worker.run_once() == 3
    assert queue.stats().done == 1 and queue.stats().dead == 1  # no handler: dead at once
    clock.advance(2)
    assert await worker.run_once() == 1
    stats = queue.stats()
    assert (stats.done, stats.dead, stats.ready) == (1, 2, 0)
    reasons = {row["key"]: row["dead_reason"] for row in queue.dead_letters()}
    assert "gave up after 2 attempts" in str(reasons["flaky"])
    assert "no handler" in str(reasons["lost"])


@pytest.mark.anyio
async def test_a_crashing_handler_never_loses_messages(tmp_path: Path) -> None:
    clock = ManualClock()
    queue = SqlQueue(open_engine(sqlite_url(tmp_path / "w.db")), clock)
    queue.enqueue([Envelope(topic="t", key="x", partition_key="a", payload={})])

    async def crash(envs: Sequence[Envelope]) -> list[Outcome]:
        raise ValueError("bug")

    worker = Worker(queue, {"t": crash}, rng=random.Random(1))
    await worker.run_once()
    stats = queue.stats()
    assert stats.ready == 1 and stats.dead == 0


@pytest.mark.anyio
async def test_a_killed_worker_uses_none_of_the_messages_attempts(tmp_path: Path) -> None:
    """A claim whose worker died (its lease ran out) is not a failed attempt: a healthy message
    held by workers killed five times still gets every attempt of its policy; one that kills
    every worker that takes it (a poison message) is a dead letter after three times that."""
    clock = ManualClock()
    queue = SqlQueue(open_engine(sqlite_url(tmp_path / "k.db")), clock)
    queue.enqueue([Envelope(topic="t", key="poison", partition_key="b", payload={})])
    policy = RetryPolicy(base_seconds=1, cap_seconds=1, max_attempts=3)
    for n in range(10):  # claimed, then the worker is SIGKILLed: the lease runs out
        if n == 5:
            queue.enqueue([Envelope(topic="t", key="healthy", partition_key="a", payload={})])
        assert len(queue.claim("doomed", 10, lease_seconds=5)) == (1 if n < 5 else 2)
        clock.advance(6)
    outcomes: list[str] = []

    async def handler(envs: Sequence[Envelope]) -> list[Outcome]:
        outcomes.extend(e.key for e in envs)
        return [Outcome.retry("busy") for _ in envs]

    worker = Worker(queue, {"t": handler}, policy=policy, rng=random.Random(1))
    for _ in range(6):
        await worker.run_once()
        clock.advance(5)
    assert outcomes.count("healthy") == 3 and "poison" not in outcomes
    dead = {d["key"]: d["dead_reason"] for d in queue.dead_letters()}
    assert dead["healthy"].startswith("gave up after 3 attempts")
    assert "claimed 11 times without an outcome" in dead["poison"]  # 10 > 3 x 3


@pytest.mark.anyio
async def test_a_waiting_message_keeps_its_place_uses_no_attempt_and_wakes(tmp_path: Path) -> None:
    clock = ManualClock()
    queue = SqlQueue(open_engine(sqlite_url(tmp_path / "w.db")), clock)
    queue.enqueue(
        [
            Envelope(topic="t", key="held", partition_key="p", payload={}),
            Envelope(topic="t", key="after", partition_key="p", payload={}),
        ]
    )
    release = {"held": False}
    seen: list[str] = []

    async def handler(envs: Sequence[Envelope]) -> list[Outcome]:
        seen.extend(e.key for e in envs)
        return [
            Outcome.wait("held for review", 60) if e.key == "held" and not release["held"]
            else Outcome.done()
            for e in envs
        ]  # fmt: skip

    worker = Worker(queue, {"t": handler}, policy=RetryPolicy(max_attempts=1), rng=random.Random(1))
    for _ in range(5):  # many looks: never a dead letter, never a pause, "after" waits behind
        await worker.run_once()
        clock.advance(61)
    assert seen == ["held"] * 5 and not worker.paused and queue.stats().dead == 0
    release["held"] = True
    await worker.run_once()
    assert queue.wake("held") == 0  # nothing waiting any more: it is done
    await worker.run_once()
    assert seen[-2:] == ["held", "after"]


def test_wake_makes_a_waiting_message_ready_now(tmp_path: Path) -> None:
    clock = ManualClock()
    queue = SqlQueue(open_engine(sqlite_url(tmp_path / "w.db")), clock)
    queue.enqueue([Envelope(topic="t", key="k", partition_key="p", payload={})])
    (env,) = queue.claim("w", 10)
    assert queue.wake("k") == 0  # leased: left to its holder
    queue.postpone([env], 3600, "held")
    assert queue.claim("w", 10) == []
    assert queue.wake("k") == 1
    assert [e.key for e in queue.claim("w", 10)] == ["k"]
