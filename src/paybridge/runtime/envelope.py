"""Queue envelopes: the JSON shape the runtime moves, knowing nothing of PayTrace or D365."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Envelope:
    """One message: ``key`` is the fact's deterministic identity, ``partition_key`` its ordering."""

    topic: str
    key: str
    partition_key: str
    payload: dict[str, Any]
    id: int | None = None
    attempts: int = 0  # claims so far, this one included (the fencing token)
    created_at: datetime | None = None
    source: str = "internal"
    # Trace context (W3C ``traceparent``/``tracestate``) of whoever published it, when tracing
    # is on: the worker's span continues that trace (see ``runtime.tracing``).
    headers: dict[str, str] = field(default_factory=dict)
    failures: int = 0  # earlier attempts that ended in a retry (a killed worker's claim is not one)

    def payload_json(self) -> str:
        return json.dumps(self.payload, separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True)
class Outcome:
    """What a handler says about one envelope."""

    # "done" | "retry" | "dead" | "pause" (a configuration refusal: not counted) | "wait"
    # (the message waits for something outside, such as a person's review: not counted)
    status: str
    reason: str = ""
    retry_after: float | None = None

    @classmethod
    def done(cls, reason: str = "") -> Outcome:
        return cls("done", reason)

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls("retry", reason, retry_after)

    @classmethod
    def dead(cls, reason: str) -> Outcome:
        return cls("dead", reason)

    @classmethod
    def wait(cls, reason: str, seconds: float) -> Outcome:
        """Not yet: look again in ``seconds`` (or when woken); neither an attempt nor a failure,
        and the message keeps its place at the head of its partition."""
        return cls("wait", reason, seconds)

    @classmethod
    def pause(cls, reason: str) -> Outcome:
        """Settings, credentials or rights are wrong: the topic waits, the attempt is not counted."""
        return cls("pause", reason)
