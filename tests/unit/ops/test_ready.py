"""/ready's probes: the store on every request, each system at most once per period."""

from __future__ import annotations

import asyncio

import pytest

from paybridge.clock import ManualClock
from paybridge.errors import ConfigError
from paybridge.ops.ready import Readiness


@pytest.mark.anyio
async def test_system_probes_are_cached_and_the_store_is_not() -> None:
    clock = ManualClock()
    calls = {"store": 0, "paytrace": 0, "dynamics": 0}
    broken = {"dynamics": False}

    async def probe(name: str) -> None:
        calls[name] += 1
        if broken.get(name):
            raise ConfigError("invalid_client", system="d365", status=401)

    ready = Readiness(
        {n: (lambda n=n: probe(n)) for n in calls}, clock, probe_seconds=30, timeout_seconds=1
    )
    for _ in range(5):
        ok, checks = await ready.status()
        assert ok and all(c.ok for c in checks.values())
    assert calls == {"store": 5, "paytrace": 1, "dynamics": 1}

    broken["dynamics"] = True
    clock.advance(29)
    assert (await ready.status())[0]  # still the cached answer
    clock.advance(1)
    ok, checks = await ready.status()
    assert not ok and checks["dynamics"].detail.startswith("ConfigError 401")
    assert "invalid_client" not in checks["dynamics"].detail  # the kind and status, not the words
    assert checks["paytrace"].ok and calls["dynamics"] == 2


@pytest.mark.anyio
async def test_a_probe_that_hangs_is_a_failure_after_the_timeout() -> None:
    async def hang() -> None:
        await asyncio.Event().wait()

    async def fine() -> None:
        return None

    ready = Readiness({"store": fine, "dynamics": hang}, ManualClock(), timeout_seconds=0.05)
    ok, checks = await ready.status()
    assert not ok and checks["dynamics"].detail == "no answer within the probe timeout"
    assert checks["store"].ok
