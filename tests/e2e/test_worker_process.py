"""`paybridge worker` stops gracefully on SIGTERM; the worker loop survives a store that goes away."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.worker import Worker

BIN = Path(sys.executable).parent


def test_sigterm_stops_the_worker_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "paybridge.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'pb.db'}\n"
        "paytrace:\n  base_url: http://127.0.0.1:9\n  poll_interval_seconds: 0.2\n"
        "dynamics:\n  base_url: http://127.0.0.1:9\n  client_id: c\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PAYTRACE_USERNAME": "u",
        "PAYTRACE_PASSWORD": "p",
        "PAYTRACE_INTEGRATOR_ID": "i",
        "DYNAMICS_CLIENT_SECRET": "s",
    }
    proc = subprocess.Popen(
        [str(BIN / "paybridge"), "worker", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (tmp_path / "pb.db").exists():
        time.sleep(0.1)
    time.sleep(1.0)  # let it poll (and fail to reach PayTrace) a few times
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr[-2000:]
    assert "worker stopped" in stderr
    assert "Traceback" not in stderr
    assert (
        "poll failed" in stderr
        or "paytrace.poll failed" in stderr
        or "job paytrace.poll failed" in stderr
    )


class VanishingStore:
    """A queue whose database is away for the first few claims."""

    def __init__(self) -> None:
        self.claims = 0
        self.acked: list[int] = []

    def claim(self, worker: str, limit: int, lease_seconds: float = 60.0) -> list[Envelope]:
        self.claims += 1
        if self.claims <= 2:
            raise OperationalError("SELECT", {}, Exception("disk I/O error"))
        if self.claims == 3:
            return [Envelope(topic="t", key="k", partition_key="p", payload={}, id=1, attempts=1)]
        return []

    def ack(self, envs: Sequence[Envelope]) -> list[int]:
        ids = [env.id for env in envs if env.id is not None]
        self.acked.extend(ids)
        return ids


@pytest.mark.anyio
async def test_the_worker_pauses_while_the_store_is_away_and_resumes() -> None:
    store = VanishingStore()
    waits: list[float] = []

    async def handler(envs: Sequence[Envelope]) -> list[Outcome]:
        return [Outcome.done()] * len(envs)

    stop = asyncio.Event()

    async def wait(_: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)
        if store.claims >= 4:
            stop.set()

    worker = Worker(store, {"t": handler}, idle_seconds=0.001, wait=wait)  # type: ignore[arg-type]
    await worker.run(stop)
    assert store.acked == [1]
    assert waits[:2] == [0.5, 1.0]  # a growing pause while the store is away
    assert waits[2:] == [0.001]  # then normal idling
