"""A handler slower than the lease keeps its messages: the worker renews the lease while it works."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from paybridge.clock import SystemClock
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.worker import Worker
from paybridge.store import open_engine


@pytest.mark.anyio
async def test_a_slow_handler_is_not_doubled_by_a_second_worker(store_url: str) -> None:
    queue = SqlQueue(open_engine(store_url), SystemClock())
    queue.enqueue([Envelope(topic="t", key="slow", partition_key="p", payload={})])
    seen: list[str] = []
    stolen: list[Envelope] = []

    async def handler(envs: Sequence[Envelope]) -> list[Outcome]:
        seen.extend(e.key for e in envs)
        for _ in range(6):  # 0.6 s of work against a 0.2 s lease
            await asyncio.sleep(0.1)
            stolen.extend(queue.claim("second", 10, lease_seconds=0.2))
        return [Outcome.done()] * len(envs)

    worker = Worker(queue, {"t": handler}, name="first", lease_seconds=0.2)
    assert await worker.run_once() == 1
    assert stolen == [] and seen == ["slow"]
    assert worker.stats.processed == 1 and worker.stats.fenced == 0
    assert queue.stats().done == 1
