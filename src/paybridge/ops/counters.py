"""This process's own counters (HTTP requests to PayTrace and D365, 429s, errors by kind), and the
httpx client that counts them.

They live in the process that made the requests, while ``/metrics`` is served by ``paybridge
serve`` and the requests are mostly made by workers. Each process writes a snapshot of them with
its heartbeat (``ops.heartbeat``); ``/metrics`` reads every process's snapshot from the store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import httpx

Labels = tuple[tuple[str, str], ...]

REQUESTS = "http_requests"  # {system, status}: status is the HTTP code, or "error"
ERRORS = "http_errors"  # {system, kind}: throttled, auth, client, server, timeout, connect, ...
# D365 requests by the company (legal entity) they were for: since the process started, and in
# the service-protection window at the heartbeat (a gauge); how often a company waited its turn.
D365_COMPANY_REQUESTS = "d365_company_requests"  # {company}
D365_COMPANY_WINDOW = "d365_company_window"  # {company}
D365_FAIR_HOLDS = "d365_fair_holds"


class ProcessCounters:
    """Monotonic counters by name and labels; ``snapshot`` gives them as JSON-ready rows."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, Labels], float] = {}
        self._lock = threading.Lock()

    def inc(self, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self._values.items())
        return [{"name": n, "labels": dict(labels), "value": v} for (n, labels), v in items]


def status_kind(status: int) -> str | None:
    """The error kind of an HTTP status, None for a success or a redirect."""
    if status == 429:
        return "throttled"
    if status in (401, 403):
        return "auth"
    if 400 <= status < 500:
        return "client"
    if status >= 500:
        return "server"
    return None


def exception_kind(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return "network"
    return "other"


class MeteredClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that counts each request it sends, by answer or failure.

    Counting in ``send`` (every request goes through it) rather than in a transport keeps httpx's
    own transport choice, proxies from the environment included.
    """

    def __init__(self, *args: Any, system: str, counters: ProcessCounters, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.system = system
        self.counters = counters

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            response = await super().send(request, **kwargs)
        except httpx.HTTPError as exc:
            self.counters.inc(REQUESTS, {"system": self.system, "status": "error"})
            self.counters.inc(ERRORS, {"system": self.system, "kind": exception_kind(exc)})
            raise
        status = response.status_code
        self.counters.inc(REQUESTS, {"system": self.system, "status": str(status)})
        kind = status_kind(status)
        if kind is not None:
            self.counters.inc(ERRORS, {"system": self.system, "kind": kind})
        return response
