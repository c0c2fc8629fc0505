"""``/ready``: the store, PayTrace and D365 answer. Probes are cached: however often a load
balancer asks, each system is probed at most once per ``probe_seconds``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from paybridge.clock import Clock
from paybridge.errors import PayBridgeError

Probe = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str  # "ok", or what failed: an error class and status, never a secret or a body
    checked_at: float  # the clock's monotonic reading


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer within the probe timeout"
    if isinstance(exc, PayBridgeError):
        status = f" {exc.status}" if exc.status else ""
        return f"{type(exc).__name__}{status} ({exc.reaction})"
    return type(exc).__name__


class Readiness:
    """Each named probe's last result, refreshed when older than its period.

    ``cached`` probes (the two systems) are refreshed at most every ``probe_seconds``; the others
    (the store: one cheap query) run on every request. Concurrent requests share one probe run.
    """

    def __init__(
        self,
        probes: Mapping[str, Probe],
        clock: Clock,
        *,
        probe_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        cached: frozenset[str] = frozenset({"paytrace", "dynamics"}),
    ) -> None:
        self.probes = dict(probes)
        self.clock = clock
        self.probe_seconds = probe_seconds
        self.timeout_seconds = timeout_seconds
        self.cached = cached
        self.results: dict[str, CheckResult] = {}
        self.runs: dict[str, int] = dict.fromkeys(self.probes, 0)
        self._locks = {name: asyncio.Lock() for name in self.probes}

    async def _check(self, name: str) -> CheckResult:
        async with self._locks[name]:
            last = self.results.get(name)
            now = self.clock.monotonic()
            fresh = last is not None and now - last.checked_at < self.probe_seconds
            if fresh and name in self.cached and last is not None:
                return last
            self.runs[name] += 1
            try:
                await asyncio.wait_for(self.probes[name](), timeout=self.timeout_seconds)
                result = CheckResult(True, "ok", now)
            except Exception as exc:  # a probe's every failure is an answer, never a 500
                result = CheckResult(False, _describe(exc), now)
            self.results[name] = result
            return result

    async def status(self) -> tuple[bool, dict[str, CheckResult]]:
        names = list(self.probes)
        results = await asyncio.gather(*(self._check(n) for n in names))
        checks = dict(zip(names, results, strict=True))
        return all(r.ok for r in results), checks
