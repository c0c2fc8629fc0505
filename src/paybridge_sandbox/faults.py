"""Scripted and random faults for both sandboxes: 5xx, 429, latency, resets, commit-then-drop.

Stable API (the PayTrace and D365 sandboxes both use it)::

    plan = FaultPlan.named("flaky", seed=7)   # profiles: "none", "flaky", "chaos", "storm", "outage"
    plan.script("commit_then_drop", path="/v1/transactions/sale/keyed", times=1)
    plan.script("commit_then_stall", path="/data/$batch", body_contains="Lines HTTP/1.1")
    app = FaultInjector(app, plan)                # or FaultInjector(app, "chaos", seed=1)
    plan.report()    # {"profile", "seed", "injected": {kind: n}, "total", "script": [...]}
    plan.configure({"profile": "chaos", "seed": 3, "script": [...], "clear_script": true})
    plan.configure({"profile": "storm", "stall_seconds": [6, 9]})   # stalls past a 5 s timeout

Fault kinds (``FAULT_KINDS``):

- ``error_json``: a 5xx (default 503) with a JSON body; the app is not called.
- ``error_html``: a 5xx (default 502) with an HTML page, like a proxy in front of the service.
- ``throttle``: 429 with ``Retry-After`` (seconds, default 1) and a JSON body.
- ``latency``: waits (through the injected ``sleep``) and then serves normally.
- ``reset``: the connection breaks before the request is processed (the app is not called).
- ``commit_then_drop``: the app runs to completion (its state changes persist), then the
  response is dropped after ``http.response.start``.
- ``commit_then_error_json`` / ``commit_then_error_html``: the app runs to completion (its
  state changes persist), and the client gets a 5xx instead of its answer (default 500 JSON,
  502 HTML): a gateway or a crash after the commit. Only a lookup can tell it from ``error_*``.
- ``commit_then_stall``: the app runs to completion (its state changes persist), then its answer
  is held for ``latency_seconds`` before it is sent: past the client's timeout, the client gives
  up on a request that was done. The stall of the random profiles is drawn from the plan's
  ``stall_seconds`` range (set it above the clients' timeouts).

Profiles: ``flaky`` and ``chaos`` draw kinds at random (latency of at most 0.2 s and 1 s);
``storm`` is ``chaos`` plus ``commit_then_stall``; ``outage`` answers every request with a 503
(``error_json``): the service is down until the profile is switched off.

Both breaking kinds send ``http.response.start`` and then raise ``DroppedConnection``
(``reset`` raises its subclass ``ConnectionReset``): over a socket uvicorn then closes the
connection mid-response, so the client sees a transport error; in-process the test transport in
``tests/conftest.py`` turns it into ``httpx.ReadTimeout``. ASGI offers no way to refuse a
connection outright, which is why a reset also shows up after the response head.

Wrap the app outermost (``FaultInjector(starlette_app, plan)``): inside Starlette's error
middleware an exception raised before the response head would turn into a tidy 500.

Scripted faults are used first, in order; then the profile draws at random from a seeded RNG.
A scripted fault with ``body_contains`` matches only a request whose body holds that text (the
body is read first and handed to the app unchanged): a ``$batch`` of writes, not one of reads.
Paths starting with an exempt prefix (default ``/_sandbox/``) are never faulted, so a chaos
driver can always read the counts.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

FAULT_KINDS = (
    "error_json", "error_html", "throttle", "latency", "reset", "commit_then_drop",
    "commit_then_error_json", "commit_then_error_html", "commit_then_stall",
)  # fmt: skip


class DroppedConnection(Exception):
    """Raised by the fault layer after the request took effect, to drop the response.

    Served over a socket the connection is closed before the body is complete, so the client
    sees a transport error after the server committed. In-process, the test transport in
    ``tests/conftest.py`` turns it into ``httpx.ReadTimeout``.
    """


class ConnectionReset(DroppedConnection):
    """The connection broke before the request was processed: nothing was committed."""


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int | None = None
    retry_after: int = 1
    latency_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")


@dataclass
class ScriptedFault:
    fault: Fault
    path: str | None = None  # exact path; a trailing "*" makes it a prefix; None = any path
    method: str | None = None
    remaining: int = 1
    body_contains: str | None = None

    def matches(self, method: str, path: str, body: bytes | None = None) -> bool:
        """Whether this request is the fault's; ``body`` None means "not read yet" (a fault
        that looks at the body then matches on method and path alone: see ``wants_body``)."""
        if self.method is not None and self.method.upper() != method:
            return False
        wanted = self.body_contains
        if body is not None and wanted is not None and wanted.encode() not in body:
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault.kind,
            "path": self.path,
            "method": self.method,
            "remaining": self.remaining,
            "status": self.fault.status,
            "body_contains": self.body_contains,
        }


# Probabilities per request; latency values are the upper bound of a uniform draw (seconds).
PROFILES: dict[str, dict[str, float]] = {
    "none": {},
    "flaky": {"error_json": 0.02, "throttle": 0.01, "commit_then_drop": 0.01, "latency": 0.05},
    "chaos": {
        "error_json": 0.05,
        "error_html": 0.03,
        "throttle": 0.05,
        "reset": 0.03,
        "commit_then_drop": 0.03,
        "commit_then_error_json": 0.02,
        "commit_then_error_html": 0.02,
        "latency": 0.10,
    },
    "storm": {
        "error_json": 0.04,
        "error_html": 0.02,
        "throttle": 0.04,
        "reset": 0.02,
        "commit_then_drop": 0.03,
        "commit_then_error_json": 0.02,
        "commit_then_error_html": 0.02,
        "commit_then_stall": 0.02,
        "latency": 0.08,
    },
    "outage": {"error_json": 1.0},
}
_MAX_LATENCY = {"none": 0.0, "flaky": 0.2, "chaos": 1.0, "storm": 1.0, "outage": 0.0}
# How long ``commit_then_stall`` holds an answer when the plan names no range (seconds).
DEFAULT_STALL = (30.0, 40.0)


@dataclass
class FaultPlan:
    """What to inject next, and how much was injected so far."""

    profile: str = "none"
    seed: int = 0
    scripted: list[ScriptedFault] = field(default_factory=list)
    injected: dict[str, int] = field(default_factory=dict)
    stall_seconds: tuple[float, float] = DEFAULT_STALL

    def __post_init__(self) -> None:
        self.set_profile(self.profile, self.seed)

    @classmethod
    def named(cls, profile: str, seed: int = 0) -> FaultPlan:
        return cls(profile=profile, seed=seed)

    def set_profile(self, profile: str, seed: int | None = None) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown fault profile {profile!r}; use one of {sorted(PROFILES)}")
        self.profile = profile
        if seed is not None:
            self.seed = seed
        self.rng = random.Random(self.seed)

    def script(
        self,
        kind: str,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
        status: int | None = None,
        retry_after: int = 1,
        latency_seconds: float = 0.0,
        body_contains: str | None = None,
    ) -> None:
        """The next ``times`` requests matching ``path`` (and ``method``, and holding
        ``body_contains`` in their body) get fault ``kind``."""
        fault = Fault(kind, status, retry_after, latency_seconds)
        self.scripted.append(ScriptedFault(fault, path, method, times, body_contains))

    def wants_body(self, method: str, path: str) -> bool:
        """Whether a scripted fault for this request decides by its body (read it first)."""
        return any(
            entry.remaining > 0 and entry.body_contains is not None and entry.matches(method, path)
            for entry in self.scripted
        )

    def draw(self, method: str, path: str, body: bytes | None = None) -> Fault | None:
        for entry in self.scripted:
            if entry.remaining > 0 and entry.matches(method, path, body or b""):
                entry.remaining -= 1
                return entry.fault
        self.scripted = [entry for entry in self.scripted if entry.remaining > 0]
        return self._random_fault()

    def _random_fault(self) -> Fault | None:
        odds = PROFILES[self.profile]
        if not odds:
            return None
        roll = self.rng.random()
        for kind, chance in odds.items():
            if roll < chance:
                delay = 0.0
                if kind == "latency":
                    delay = self.rng.uniform(0, _MAX_LATENCY[self.profile])
                elif kind == "commit_then_stall":
                    delay = self.rng.uniform(*self.stall_seconds)
                return Fault(kind, latency_seconds=delay, retry_after=self.rng.randint(1, 3))
            roll -= chance
        return None

    def count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def report(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "seed": self.seed,
            "injected": dict(self.injected),
            "total": sum(self.injected.values()),
            "stall_seconds": list(self.stall_seconds),
            "script": [entry.to_json() for entry in self.scripted if entry.remaining > 0],
        }

    def configure(self, command: dict[str, Any]) -> dict[str, Any]:
        """Apply an admin command (``profile``, ``seed``, ``script``, ``clear_script``,
        ``reset_counts``, ``stall_seconds``: ``[low, high]``)."""
        if "stall_seconds" in command:
            low, high = (float(x) for x in command["stall_seconds"])
            if not 0 <= low <= high:
                raise ValueError("stall_seconds must be [low, high] with 0 <= low <= high")
            self.stall_seconds = (low, high)
        if command.get("clear_script"):
            self.scripted.clear()
        if command.get("reset_counts"):
            self.injected.clear()
        if "profile" in command or "seed" in command:
            self.set_profile(
                str(command.get("profile", self.profile)), int(command.get("seed", self.seed))
            )
        for item in command.get("script") or []:
            self.script(
                str(item["fault"]),
                path=item.get("path"),
                method=item.get("method"),
                times=int(item.get("times", 1)),
                status=item.get("status"),
                retry_after=int(item.get("retry_after", 1)),
                latency_seconds=float(item.get("latency_seconds", 0.0)),
                body_contains=item.get("body_contains"),
            )
        return self.report()


_HTML = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<h1>Bad Gateway</h1><p>The server returned an invalid or incomplete response.</p>"
    b"</body></html>"
)


class FaultInjector:
    """ASGI middleware injecting the faults of a ``FaultPlan`` (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        profile: FaultPlan | str = "none",
        *,
        seed: int = 0,
        sleep: Sleep | None = None,
        exempt_prefixes: tuple[str, ...] = ("/_sandbox/",),
    ) -> None:
        self.app = app
        self.plan = profile if isinstance(profile, FaultPlan) else FaultPlan.named(profile, seed)
        self.sleep: Sleep = sleep or asyncio.sleep
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope.get("type") != "http" or path.startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        body: bytes | None = None
        if self.plan.wants_body(method, path):
            body, receive = await _read_body(receive)
        fault = self.plan.draw(method, path, body)
        if fault is None:
            await self.app(scope, receive, send)
            return
        self.plan.count(fault.kind)
        await self._inject(fault, scope, receive, send)

    async def _inject(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.kind == "latency":
            await self.sleep(fault.latency_seconds)
            await self.app(scope, receive, send)
        elif fault.kind == "error_json":
            status = fault.status or 503
            body = {"error": "service_unavailable", "status": status, "injected": True}
            await _send(send, status, json.dumps(body).encode(), "application/json")
        elif fault.kind == "error_html":
            await _send(send, fault.status or 502, _HTML, "text/html; charset=utf-8")
        elif fault.kind == "throttle":
            text = json.dumps({"error": "too_many_requests", "retry_after": fault.retry_after})
            extra = [(b"retry-after", str(fault.retry_after).encode())]
            await _send(send, fault.status or 429, text.encode(), "application/json", extra)
        elif fault.kind == "reset":
            await _start_then_break(send, 200, [])
            raise ConnectionReset("sandbox reset the connection before processing")
        elif fault.kind == "commit_then_stall":
            await self._commit_then_stall(fault, scope, receive, send)
        elif fault.kind in ("commit_then_error_json", "commit_then_error_html"):
            await self.app(scope, receive, _swallow)  # the work is done; its answer is lost
            if fault.kind == "commit_then_error_json":
                body = {"error": "internal_error", "status": fault.status or 500, "injected": True}
                await _send(
                    send, fault.status or 500, json.dumps(body).encode(), "application/json"
                )
            else:
                await _send(send, fault.status or 502, _HTML, "text/html; charset=utf-8")
        else:
            await self._commit_then_drop(scope, receive, send)

    async def _commit_then_stall(
        self, fault: Fault, scope: Scope, receive: Receive, send: Send
    ) -> None:
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)  # done: the state changes persist
        await self.sleep(fault.latency_seconds)
        for message in held:  # a client that gave up is gone: the server just fails to send
            await send(message)

    async def _commit_then_drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        started: list[Message] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message)

        await self.app(scope, receive, hold)
        status: int = started[0]["status"] if started else 200
        headers: list[Any] = list(started[0].get("headers", [])) if started else []
        await _start_then_break(send, status, headers)
        raise DroppedConnection("sandbox dropped the response after committing")


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it to the app as if unread."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: the app sees an empty body, then the disconnect
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _swallow(message: Message) -> None:
    """An ASGI send that drops the app's answer."""


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _start_then_break(send: Send, status: int, headers: list[Any]) -> None:
    """Send a response head that promises a body which never comes."""
    kept = [(k, v) for k, v in headers if bytes(k).lower() != b"content-length"]
    kept.append((b"content-length", b"1024"))
    await send({"type": "http.response.start", "status": status, "headers": kept})
