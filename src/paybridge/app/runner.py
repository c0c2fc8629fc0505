"""Running a built engine until stopped, rebuilt when the designer's promoted templates change.

Templates are compiled once into the services that map with them, so a version promoted in the
console takes effect by building the engine again: each ``serve``/``worker`` process reads the
promotion count every ``mapping.reload_seconds``; on a change the running batch finishes, the
engine is rebuilt from the same settings (the new version now maps) and work goes on. A rebuild
that fails (a promoted version that no longer compiles) keeps the running engine and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from paybridge.app.engine import Engine, build_engine
from paybridge.app.settings import Settings

log = logging.getLogger(__name__)
CLOSE_GRACE_SECONDS = 30.0  # requests the old engine's API still answers finish first


async def _watch(engine: Engine, stop: asyncio.Event, rebuild: asyncio.Event, every: float) -> None:
    """Sets ``rebuild`` when the promotion count moves, or when ``stop`` is set."""
    seen = await asyncio.to_thread(engine.mapping_versions.generation)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if stop.is_set():
            break
        try:
            now = await asyncio.to_thread(engine.mapping_versions.generation)
        except Exception as exc:  # the store may be away; the worker loop says so too
            log.warning("mapping: cannot read promoted versions: %s", exc)
            continue
        if now != seen:
            log.info("mapping: %d version(s) promoted since start-up; rebuilding", now - seen)
            break
    rebuild.set()


async def _close(engine: Engine, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    await engine.aclose()
    engine.store.engine.dispose()


async def run_rebuilding(
    engine: Engine, stop: asyncio.Event, *, concurrency: int = 1,
    on_rebuild: Callable[[Engine], None] | None = None,
    build: Callable[[Settings], Engine] = build_engine,
) -> None:  # fmt: skip
    """Run ``engine`` until ``stop``; rebuild it (and tell ``on_rebuild``) when a version is
    promoted. Closes every engine it ran before returning."""
    settings = engine.settings
    retired: dict[asyncio.Task[None], Engine] = {}
    every = settings.mapping.reload_seconds
    try:
        while True:
            inner = asyncio.Event()
            watcher = asyncio.create_task(_watch(engine, stop, inner, every)) if every else None
            if watcher is None:
                inner = stop
            try:
                await engine.run(inner, concurrency=concurrency)
            finally:
                if watcher is not None:
                    watcher.cancel()
            if stop.is_set():
                break
            try:
                fresh = await asyncio.to_thread(build, settings)
            except Exception as exc:
                log.error("mapping: the engine was not rebuilt, it goes on as it was: %s", exc)
                continue
            if on_rebuild is not None:
                on_rebuild(fresh)
            in_use = ", ".join(t.ref for t in fresh.parts.templates.latest())
            log.info("mapping: engine rebuilt; templates in use: %s", in_use)
            retired[asyncio.create_task(_close(engine, CLOSE_GRACE_SECONDS))] = engine
            engine = fresh
    finally:
        for task, old in retired.items():  # stopping: the grace period is over
            if not task.done():
                task.cancel()
                await _close(old)
        await engine.aclose()
