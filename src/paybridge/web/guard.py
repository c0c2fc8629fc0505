"""Card-data guard at the HTTP edge: a body or query carrying a card number or CSC is refused with 422.

An ASGI middleware, so it runs before routing, validation, handlers and logs: a refused request's
body is never parsed into a model, stored or logged. The answer names the offending field paths
only. Masked numbers (``xxxxxxxxxxxx5439``, first six and last four at most) pass.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI

from paybridge.security.cardguard import CardFinding, find_card_numbers

log = logging.getLogger("paybridge.web.guard")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1024 * 1024
TOKENS_ONLY = (
    "PayBridge accepts tokens only: this request carries card data (a card number, security "
    "code or track data); send a PayTrace customer profile or token instead"
)
_KIND = {"pan": "card number", "csc": "card security code", "track": "track data"}


def scan_body(body: bytes, content_type: str) -> list[CardFinding]:
    """Card data in a request body, read as JSON, a form or plain text by its content type."""
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return find_card_numbers(json.loads(text, parse_float=str, parse_constant=str))
        except ValueError:
            pass  # a body that is not JSON is still scanned, as text
    if "x-www-form-urlencoded" in content_type:
        return find_card_numbers(dict(parse_qsl(text, keep_blank_values=True)))
    return find_card_numbers(text)


def scan_query(query: bytes) -> list[CardFinding]:
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    return find_card_numbers({key: value for key, value in pairs}) if pairs else []


def refusal(findings: list[CardFinding]) -> dict[str, Any]:
    fields = {f.path: _KIND[f.kind] for f in findings}
    return {"error": {"message": TOKENS_ONLY, "fields": fields, "reaction": "reject"}}


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


class CardDataGuard:
    """ASGI middleware: buffers each request body (up to ``max_body``), scans it, then passes it on."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await _answer(
                    send, 413, {"error": {"message": "request body too large", "fields": {}}}
                )
                return
        findings = scan_query(scope.get("query_string", b"")) + scan_body(
            body, _header(scope, b"content-type").lower()
        )
        if findings:
            self._note(scope, findings)
            await _answer(send, 422, refusal(findings))
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _note(scope: Scope, findings: list[CardFinding]) -> None:
        paths = sorted({f"{f.path} ({_KIND[f.kind]})" for f in findings})
        log.warning("refused card data in %s %s at %s", scope["method"], scope["path"], paths)
        record_refusal(scope, paths)


def record_refusal(scope: Scope, paths: list[str]) -> None:
    """An audit row for a refused request, when the app carries the security services."""
    app = scope.get("app")
    security = getattr(getattr(app, "state", None), "security", None)
    if security is None:
        return
    token = _header(scope, b"authorization").removeprefix("Bearer ").strip()
    claimed = token.split("_")[1] if token.startswith("pb_") and token.count("_") >= 2 else ""
    client = scope.get("client") or ("", 0)
    security.audit.record(
        actor="unauthenticated",
        action="guard.card_data_refused",
        target=f"{scope['method']} {scope['path']}",
        client=str(client[0]),
        outcome="refused",
        detail={"fields": paths, "claimed_key_id": claimed[:12]},
    )


def _replay(body: bytes, upstream: Receive) -> Receive:
    """The buffered body once, then the real channel (which reports the client's disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()

    return receive


def install_card_guard(app: FastAPI, max_body: int = MAX_BODY) -> None:
    """Put the guard in front of everything the app serves."""
    app.add_middleware(CardDataGuard, max_body=max_body)
