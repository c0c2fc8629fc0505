"""A scripted PayTrace for client tests: queued replies per path, every request recorded."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import PayTraceClient

Reply = httpx.Response | Exception
TOKEN_PATH = "/oauth/token"


def json_reply(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def token_reply(access: str, created_at: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": 7200}
    if created_at is not None:
        body["created_at"] = created_at
    return json_reply(body)


APPROVED_SALE = {
    "success": True,
    "response_code": 101,
    "status_message": "Your transaction was successfully approved.",
    "transaction_id": 125391271,
    "approval_code": "TAS445",
    "approval_message": "  NO  MATCH - Approved and completed",
    "avs_response": "No Match",
    "csc_response": "",
    "external_transaction_id": "",
    "masked_card_number": "xxxxxxxxxxxx5439",
}
EXPORT_OK = {
    "success": True,
    "response_code": 1,
    "status_message": "Your request has been successfully completed.",
    "transactions": [],
}


class ScriptedPayTrace:
    """Answers each path from its queue (the last reply repeats); logins mint tok-1, tok-2..."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.queues: dict[str, deque[Reply]] = defaultdict(deque)
        self.logins = 0
        self.login_pause = 0

    def script(self, path: str, *replies: Reply) -> None:
        self.queues[path].extend(replies)

    def sent(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.sent(path)]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == TOKEN_PATH and not self.queues[TOKEN_PATH]:
            for _ in range(self.login_pause):
                await anyio.sleep(0)  # let concurrent callers pile up behind the login
            self.logins += 1
            return token_reply(f"tok-{self.logins}")
        if request.url.path == TOKEN_PATH:
            self.logins += 1
        queue = self.queues[request.url.path]
        if not queue:
            raise AssertionError(f"unscripted request to {request.url.path}")
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(
    server: ScriptedPayTrace,
    *,
    clock: ManualClock | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    **options: Any,
) -> tuple[PayTraceClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=server.transport())
    client = PayTraceClient(
        http,
        username="api-user",
        password="s3cret-pw",
        integrator_id="INTEGRATOR12",
        clock=clock or ManualClock(),
        sleep=sleep or SleepRecorder(),
        **options,
    )
    return client, http
