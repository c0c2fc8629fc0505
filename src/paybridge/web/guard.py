"""Card-data guard at the HTTP edge: a request carrying a card number, CSC or track data is refused.

An ASGI middleware, so it runs before routing, validation, handlers and logs: a refused request's
body is never parsed into a model, stored or logged. It reads what the application will read, as
the application will read it:

- the body, decoded as ``json.loads`` (so Starlette and FastAPI) decodes it: UTF-8, UTF-8 with a
  BOM, UTF-16 and UTF-32 in either byte order (RFC 8259/7159 detection), ``\\uXXXX`` escapes
  undone, numbers with exponents read as the integers a model makes of them; a form body by its
  fields; anything else as text;
- every query parameter (repeated ones too, names as well as values), the path, and every header
  but the few that carry credentials or framing (``SKIPPED_HEADERS``): ``Idempotency-Key`` and
  ``webhook-id`` are kept by the application, others may reach a proxy's log.

The answer (422) names the offending fields only, never their content; so does the log line and
the audit row. Masked numbers (``xxxxxxxxxxxx5439``, first six and last four at most) pass.

Bounded: the body is capped (``max_body``, 413 naming the limit, from Content-Length before a
byte is read), read within ``body_timeout`` (408), scanned in linear time with a budget (a request
dense with long digit runs is refused, never passed unread), and a large body is scanned off the
event loop, which ``paybridge serve`` shares with the poller and the workers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import FastAPI

from paybridge.security import cardscan
from paybridge.security.cardguard import (
    REDACTED,
    CardFinding,
    ScanBudget,
    TooDense,
    find_card_numbers,
    json_unescaped,
    looks_like_api_key,
    text_findings,
)

log = logging.getLogger("paybridge.web.guard")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024  # PayBridge's requests are a few hundred bytes; web.max_body_bytes raises it
BODY_TIMEOUT = 10.0  # seconds to receive the whole body once the headers are in
OFF_LOOP = 16 * 1024  # bodies larger than this are scanned in a worker thread
MAX_NODES = 20_000  # JSON nodes walked to name the fields of a refused body
TOKENS_ONLY = (
    "PayBridge accepts tokens only: this request carries card data (a card number, security "
    "code or track data); send a PayTrace customer profile or token instead"
)
# Credentials (never stored, logged or echoed: the auth layer reads them), framing, and a MAC.
SKIPPED_HEADERS = frozenset(
    {b"authorization", b"proxy-authorization", b"cookie", b"content-length", b"webhook-signature"}
)
# Query parameters that would carry an API key: keys go in the Authorization header only.
KEY_PARAMETERS = frozenset({"api_key", "apikey", "api-key", "access_token", "token"})
_KIND = {"pan": "card number", "csc": "card security code", "track": "track data"}


class NestingTooDeep(ValueError):
    """A JSON body nested deeper than the parser (and so the framework) can read."""


@dataclass(frozen=True)
class Decoded:
    """A body as the framework will see it: its text and, when it is JSON, its value."""

    text: str
    value: Any = None
    is_json: bool = False
    exponents: tuple[str, ...] = ()


def decode_body(body: bytes) -> str:
    """The body's text, decoded as ``json.loads`` decodes bytes (BOM and UTF-16/32 detection)."""
    encoding = json.detect_encoding(body)
    try:
        return body.decode(encoding, "surrogatepass")
    except UnicodeDecodeError:  # the framework will refuse it; a reader still sees the rest
        return body.decode(encoding, "replace")


# Digits next to an "e": a number with an exponent may be in the body.
_EXPONENT_HINT = bytes.maketrans(
    bytes(range(256)), b"." * 48 + b"d" * 10 + b"." * 11 + b"e" + b"." * 31 + b"e" + b"." * 154
)


def _needs_parse(text: str) -> bool:
    if "\\" in text or text.count("[") + text.count("{") > 500:
        return True
    sample = text.encode("utf-8", "surrogatepass").translate(_EXPONENT_HINT)
    return b"de" in sample


def parse_json(text: str, budget: ScanBudget) -> Decoded:
    """``text`` parsed as the framework parses it; exponent numbers kept as the digits they mean."""
    exponents: list[str] = []
    floats = 0

    def as_float(token: str) -> float:
        nonlocal floats
        floats += 1
        if floats > 4 * budget.limit:
            raise TooDense(budget.limit)
        number = float(token)
        if ("e" in token or "E" in token) and number.is_integer() and 1e12 <= abs(number) < 1e20:
            exponents.append(str(int(number)))
        return number

    try:
        value = json.loads(text, parse_float=as_float)
    except RecursionError:
        raise NestingTooDeep("the JSON body is nested deeper than it can be read") from None
    except ValueError as exc:
        if isinstance(exc, TooDense):
            raise
        return Decoded(text)
    return Decoded(text, value, True, tuple(exponents))


def scan_body(
    body: bytes, content_type: str, budget: ScanBudget | None = None
) -> list[CardFinding]:
    """Card data in a request body, read as the framework will read it.

    Raises TooDense (too many long digit runs to tell apart) and NestingTooDeep: refuse those.
    """
    budget = budget if budget is not None else ScanBudget()
    if not body:
        return []
    if "x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        return scan_pairs(pairs, "form", budget)
    text = decode_body(body)
    decoded = parse_json(text, budget) if _needs_parse(text) else Decoded(text)
    readable = json_unescaped(text) if decoded.is_json else text
    found = text_findings(readable, "body", budget)
    found += text_findings("\n".join(decoded.exponents), "body", budget)
    if not found:
        return []
    if not decoded.is_json and not decoded.exponents:
        decoded = parse_json(text, budget)
    if decoded.is_json:
        try:
            placed = find_card_numbers(decoded.value, budget, max_nodes=MAX_NODES)
        except TooDense:
            placed = []
        if placed:
            return placed
    return [CardFinding(found[0].kind, "body", 0, 0, REDACTED)]


def _name(prefix: str, name: str, index: int, budget: ScanBudget) -> str:
    """A field name to answer with: the parameter's own name only when it is plainly a name."""
    plain = name.isascii() and name.replace("-", "_").isidentifier() and len(name) <= 64
    if plain and not text_findings(name, "", budget):
        return f"{prefix}.{name}"
    return f"{prefix}[#{index}]"


def scan_pairs(pairs: list[tuple[str, str]], prefix: str, budget: ScanBudget) -> list[CardFinding]:
    """Card data in name/value pairs (a query string, a form), every repeat of a name included."""
    found: list[CardFinding] = []
    for index, (name, value) in enumerate(pairs):
        hits = text_findings(name, "", budget) + text_findings(value, "", budget)
        if hits:
            where = _name(prefix, name, index, budget)
            found += [CardFinding(h.kind, where, 0, 0, REDACTED) for h in hits]
    return found


def scan_query(query: bytes, budget: ScanBudget | None = None) -> list[CardFinding]:
    budget = budget if budget is not None else ScanBudget()
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    return scan_pairs(pairs, "query", budget)


def scan_headers(headers: list[tuple[bytes, bytes]], budget: ScanBudget) -> list[CardFinding]:
    """Card data in any header but ``SKIPPED_HEADERS``, read as Latin-1 (as Starlette does) and
    as UTF-8 (as a person would)."""
    pairs: list[tuple[str, str]] = []
    for raw_name, raw_value in headers:
        if raw_name.lower() in SKIPPED_HEADERS:
            continue
        name = raw_name.decode("latin-1")
        pairs.append((name, raw_value.decode("latin-1")))
        if not raw_value.isascii():
            pairs.append((name, raw_value.decode("utf-8", "replace")))
    return scan_pairs(pairs, "header", budget)


def scan_path(path: str, budget: ScanBudget) -> list[CardFinding]:
    return [CardFinding(f.kind, "path", 0, 0, REDACTED) for f in text_findings(path, "", budget)]


def refusal(findings: list[CardFinding]) -> dict[str, Any]:
    fields = {f.path: _KIND[f.kind] for f in findings}
    return {"error": {"message": TOKENS_ONLY, "fields": fields, "reaction": "reject"}}


def _error(message: str, field: str, why: str) -> dict[str, Any]:
    return {"error": {"message": message, "fields": {field: why}}}


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode("utf-8")
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    start = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def key_in_url(scope: Scope) -> str | None:
    """The query parameter that carries an API key (by its name or its shape), if any."""
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    for index, (name, value) in enumerate(pairs):
        if name.lower() in KEY_PARAMETERS:
            return f"query.{name.lower()}"
        if _looks_like_key(name) or _looks_like_key(value):
            return f"query[#{index}]"
    return "path" if _looks_like_key(scope.get("path", "")) else None


def _looks_like_key(text: str) -> bool:
    return "pb_" in text and looks_like_api_key(text)


class BodyTooLarge(ValueError):
    pass


class CardDataGuard:
    """ASGI middleware: reads the request (up to ``max_body``), scans it, then passes it on."""

    def __init__(
        self, app: ASGIApp, max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        cardscan.warm_up()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = key_in_url(scope)
        if where is not None:
            await _answer(
                send, 401,
                _error("API keys go in the Authorization header, never in the URL", where,
                       "not accepted here; revoke a key that was sent this way"),
                {"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(send)
            return
        try:
            with anyio.fail_after(self.body_timeout):
                body = await self._read(receive)
        except TimeoutError:
            why = f"the body did not arrive within {self.body_timeout:g} s"
            await _answer(send, 408, _error("request timeout", "body", why), _CLOSE)
            return
        except BodyTooLarge:
            await self._too_large(send)
            return
        if body is None:
            return  # the client went away
        await self._scan_then_pass(scope, body, receive, send)

    async def _scan_then_pass(
        self, scope: Scope, body: bytes, receive: Receive, send: Send
    ) -> None:
        try:
            if len(body) > OFF_LOOP:
                findings = await anyio.to_thread.run_sync(scan_request, scope, body)
            else:
                findings = scan_request(scope, body)
        except NestingTooDeep as exc:
            await _answer(send, 422, _error("invalid request", "body", str(exc)))
            return
        except TooDense as exc:
            why = f"too many long digit sequences to check for card data ({exc})"
            findings = [CardFinding("pan", "body", 0, 0, REDACTED)]
            self._note(scope, findings)
            await _answer(send, 422, _error(TOKENS_ONLY, "body", why))
            return
        if findings:
            self._note(scope, findings)
            await _answer(send, 422, refusal(findings))
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        why = f"at most {self.max_body} bytes (web.max_body_bytes)"
        await _answer(send, 413, _error("request body too large", "body", why), _CLOSE)

    @staticmethod
    def _note(scope: Scope, findings: list[CardFinding]) -> None:
        paths = sorted({f"{f.path} ({_KIND[f.kind]})" for f in findings})
        target = safe_target(scope, findings)
        log.warning("refused card data in %s at %s", target, paths)
        record_refusal(scope, paths, target)


_CLOSE = {"Connection": "close"}


def scan_request(scope: Scope, body: bytes) -> list[CardFinding]:
    """Everything in a request the application reads, against one budget."""
    budget = ScanBudget()
    found = scan_path(str(scope.get("path", "")), budget)
    found += scan_query(scope.get("query_string", b""), budget)
    found += scan_headers(list(scope.get("headers", [])), budget)
    found += scan_body(body, _header(scope, b"content-type").lower(), budget)
    return found


def safe_target(scope: Scope, findings: list[CardFinding]) -> str:
    """``METHOD /path`` for a log line or an audit row; the path is withheld when it is the
    offender."""
    path = str(scope.get("path", ""))
    if any(f.path == "path" for f in findings):
        path = "[path withheld]"
    return f"{scope.get('method', '')} {path}"


def record_refusal(scope: Scope, paths: list[str], target: str) -> None:
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
        target=target,
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


def install_card_guard(
    app: FastAPI, max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT
) -> None:
    """Put the guard in front of everything the app serves (once: a second call changes nothing)."""
    if any(getattr(m, "cls", None) is CardDataGuard for m in app.user_middleware):
        return
    app.add_middleware(CardDataGuard, max_body=max_body, body_timeout=body_timeout)
