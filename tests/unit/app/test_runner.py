"""``run_rebuilding``: an engine runs until stopped, is rebuilt when a template version is
promoted (and the API told), keeps running when the rebuild fails, and every engine is closed.

Stand-in engines count what happens to them; the look-up interval is 10 ms of real time (the
runner waits on asyncio events, which no injected clock drives)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from paybridge.app.runner import run_rebuilding


@dataclass
class Promotions:
    count: int = 0

    def generation(self) -> int:
        return self.count


@dataclass
class FakeEngine:
    name: str
    promotions: Promotions
    runs: int = 0
    closed: bool = False
    events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings = SimpleNamespace(mapping=SimpleNamespace(reload_seconds=0.01))
        self.mapping_versions = self.promotions
        self.store = SimpleNamespace(engine=SimpleNamespace(dispose=lambda: None))
        self.parts = SimpleNamespace(templates=SimpleNamespace(latest=lambda: []))

    async def run(self, stop: asyncio.Event, *, concurrency: int = 1) -> None:
        self.runs += 1
        await stop.wait()

    async def aclose(self) -> None:
        self.closed = True


async def until(check: Any) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


@pytest.mark.anyio
async def test_a_promotion_rebuilds_the_engine_and_tells_the_api() -> None:
    promotions = Promotions()
    first = FakeEngine("first", promotions)
    built: list[FakeEngine] = []
    told: list[str] = []

    def build(settings: Any) -> Any:
        built.append(FakeEngine(f"built-{len(built) + 1}", promotions))
        return built[-1]

    stop = asyncio.Event()
    task = asyncio.create_task(run_rebuilding(
        first, stop, on_rebuild=lambda e: told.append(e.name), build=build,  # type: ignore[arg-type]
    ))  # fmt: skip
    await until(lambda: first.runs == 1)
    promotions.count = 1
    await until(lambda: built and built[0].runs == 1)
    assert told == ["built-1"] and first.runs == 1
    stop.set()
    await task
    assert built[0].closed and first.closed and len(built) == 1


@pytest.mark.anyio
async def test_a_failed_rebuild_keeps_the_running_engine() -> None:
    promotions = Promotions()
    first = FakeEngine("first", promotions)
    attempts: list[int] = []

    def build(settings: Any) -> Any:
        attempts.append(promotions.count)
        raise RuntimeError("a promoted version no longer compiles")

    stop = asyncio.Event()
    task = asyncio.create_task(run_rebuilding(first, stop, build=build))  # type: ignore[arg-type]
    await until(lambda: first.runs == 1)
    promotions.count = 1
    await until(lambda: first.runs == 2)  # running again, the same engine
    assert attempts == [1]
    stop.set()
    await task
    assert first.closed
