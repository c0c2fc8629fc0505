"""F&O service protection per principal: requests and execution time per sliding window, concurrency.

Spec §2.12 (user-based limits, per user/app and per web server, 5-minute sliding window): 6,000
requests, 1,200 s of combined execution time and 52 concurrent requests; a request past any of
them gets 429 with ``Retry-After`` and the limit's own message. Every limit is optional
(``ThrottleSettings``); the sandbox applies none unless told to (``--throttle-fno`` or the
``--throttle-*`` flags, ``POST /_sandbox/throttle``, ``DynamicsSandboxSettings.throttle``).

What is counted: every F&O request (``/data``, ``/Metadata``, ``/api/services``) admitted for a
principal (the token's client id); a refused request is not counted. Execution time is the
handler's own time plus the emulated work (``work_seconds_per_operation``), charged when the
request ends. ``Retry-After`` is by default the time until the window admits the next request
(at least 1 s); a fixed ``retry_after_seconds`` answers that instead. Resource-based throttling
(the whole environment is busy) shares the requests message of older versions: this module is
what ``throttle`` meant before it grew the other two limits.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from paybridge_sandbox.dynamics.errors import ODataError

RESOURCE_MESSAGE = (
    "This request could not be processed at this time due to system experiencing "
    "high resource utilization."
)
# F&O's own texts (the "exeeded" spelling is theirs).
REQUESTS_MESSAGE = (
    "Number of requests exeeded the limit of {limit} over the time window of {window} seconds."
)
EXECUTION_MESSAGE = (
    "Combined execution time of incoming requests exceeded limit of {limit} seconds over time "
    "window of {window} seconds. Decrease concurrency or duration of requests and try again later."
)
CONCURRENT_MESSAGE = "Number of concurrent requests exceeded the limit of {limit}."


@dataclass(frozen=True)
class ThrottleSettings:
    """Per-principal limits; None switches a limit off.

    ``retry_after_seconds`` None: the computed wait. ``resource_message``: refuse a request over
    ``requests`` with the resource-based text (the only limit of older sandbox versions).
    """

    requests: int | None = None
    window_seconds: float = 300.0
    retry_after_seconds: int | None = 30
    execution_seconds: float | None = None
    concurrent: int | None = None
    resource_message: bool = True

    def __post_init__(self) -> None:
        if self.window_seconds <= 0:
            raise ValueError("throttle window_seconds must be > 0")
        for name in ("requests", "execution_seconds", "concurrent"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"throttle {name} must be > 0 (or None: no limit)")

    @classmethod
    def fno(cls) -> ThrottleSettings:
        """F&O's documented user-based limits, with the computed Retry-After."""
        return cls(6000, 300.0, None, 1200.0, 52, resource_message=False)

    def describe(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "window_seconds": self.window_seconds,
            "retry_after_seconds": self.retry_after_seconds,
            "execution_seconds": self.execution_seconds,
            "concurrent": self.concurrent,
        }


@dataclass
class _Usage:
    admitted: deque[float] = field(default_factory=deque)  # start times in the window
    spent: deque[tuple[float, float]] = field(default_factory=deque)  # (end time, seconds)
    spent_total: float = 0.0
    active: int = 0
    refused: int = 0
    admitted_total: int = 0
    execution_total: float = 0.0


class Throttle:
    """The limits of ``settings`` per principal; ``admit`` before a request, ``release`` after."""

    def __init__(self, settings: ThrottleSettings | None) -> None:
        self.settings = settings
        self.usage: dict[str, _Usage] = {}

    def reset(self) -> None:
        self.usage.clear()

    def _expire(self, usage: _Usage, now: float, window: float) -> None:
        while usage.admitted and usage.admitted[0] <= now - window:
            usage.admitted.popleft()
        while usage.spent and usage.spent[0][0] <= now - window:
            usage.spent_total -= usage.spent.popleft()[1]

    def admit(self, client_id: str, now: float) -> None:
        """Count one request of ``client_id`` or raise the 429 of the first limit it exceeds."""
        limits = self.settings
        if limits is None:
            return
        usage = self.usage.setdefault(client_id, _Usage())
        self._expire(usage, now, limits.window_seconds)
        refusal = self._refusal(usage, limits, now)
        if refusal is not None:
            usage.refused += 1
            message, wait = refusal
            retry = limits.retry_after_seconds
            seconds = retry if retry is not None else max(1, math.ceil(wait))
            raise ODataError(429, message, headers={"Retry-After": str(seconds)})
        usage.admitted.append(now)
        usage.admitted_total += 1
        usage.active += 1

    def _refusal(
        self, usage: _Usage, limits: ThrottleSettings, now: float
    ) -> tuple[str, float] | None:
        window = limits.window_seconds
        if limits.requests is not None and len(usage.admitted) >= limits.requests:
            text = RESOURCE_MESSAGE if limits.resource_message else REQUESTS_MESSAGE
            index = len(usage.admitted) - limits.requests
            wait = usage.admitted[index] + window - now
            return text.format(limit=limits.requests, window=_num(window)), wait
        if limits.execution_seconds is not None and usage.spent_total >= limits.execution_seconds:
            over, wait = usage.spent_total - limits.execution_seconds, 0.0
            for ended, seconds in usage.spent:
                wait = ended + window - now
                over -= seconds
                if over < 0:
                    break
            text = EXECUTION_MESSAGE.format(
                limit=_num(limits.execution_seconds), window=_num(window)
            )
            return text, wait
        if limits.concurrent is not None and usage.active >= limits.concurrent:
            return CONCURRENT_MESSAGE.format(limit=limits.concurrent), 1.0
        return None

    def release(self, client_id: str, now: float, seconds: float) -> None:
        """The request admitted for ``client_id`` ended after ``seconds`` of execution."""
        usage = self.usage.get(client_id)
        if usage is None or usage.active == 0:
            return
        usage.active -= 1
        usage.spent.append((now, max(0.0, seconds)))
        usage.spent_total += max(0.0, seconds)
        usage.execution_total += max(0.0, seconds)

    def report(self) -> dict[str, object] | None:
        if self.settings is None:
            return None
        principals = {
            client: {
                "requests_in_window": len(u.admitted),
                "execution_seconds_in_window": round(u.spent_total, 3),
                "active": u.active,
                "refused": u.refused,
                "requests_total": u.admitted_total,
                "execution_seconds_total": round(u.execution_total, 3),
            }
            for client, u in self.usage.items()
        }
        return {**self.settings.describe(), "principals": principals}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
