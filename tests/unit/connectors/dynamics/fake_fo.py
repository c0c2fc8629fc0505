"""A scripted stand-in for F&O over httpx.MockTransport: canned answers, every request kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from paybridge.clock import ManualClock, sequential_ids
from paybridge.connectors.dynamics import DynamicsClient, RequestLimiter, StaticTokenProvider

BASE = "https://usmf.sandbox.operations.dynamics.com"
Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def odata_error(message: str, *, inner: str = "", kind: str = "") -> dict[str, Any]:
    """F&O's error envelope."""
    error: dict[str, Any] = {"code": "", "message": message}
    if inner:
        error["innererror"] = {"message": inner, "type": kind, "stacktrace": "   at X.Y()"}
    return {"error": error}


def respond(status: int, body: Any = None, **headers: str) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


class FakeFO:
    """Answers requests in order from a script; records them for assertions."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.tokens = StaticTokenProvider("tok-1")
        self.clock = ManualClock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    def client(self, *, limiter: RequestLimiter | None = None, retries: int = 3) -> DynamicsClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return DynamicsClient(
            http,
            base_url=BASE,
            token_provider=self.tokens,
            clock=self.clock,
            limiter=limiter,
            retries=retries,
            sleep=self.sleep,
            id_factory=sequential_ids("req-"),
        )

    @property
    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method in {"POST", "PATCH", "PUT", "DELETE"}]
