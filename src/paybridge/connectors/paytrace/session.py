"""PayTrace HTTP session: password-grant token cache, integrator id, bounded retries, logging."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from paybridge.clock import Clock, SystemClock
from paybridge.connectors.paytrace.models import PayTraceRequest
from paybridge.connectors.paytrace.outcome import (
    Endpoint,
    TokenRejected,
    map_outcome,
)
from paybridge.connectors.paytrace.responses import TokenResponse
from paybridge.errors import RetryableError
from paybridge.security.cardguard import redact, redact_text

T = TypeVar("T", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]
TOKEN = Endpoint("login", "/oauth/token", "token")
_log = logging.getLogger("paybridge.connectors.paytrace")
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class TokenCache:
    """One bearer token shared by every concurrent call; one login however many callers wait."""

    def __init__(self, clock: Clock, margin: timedelta) -> None:
        self._clock = clock
        self._margin = margin
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires = datetime.min.replace(tzinfo=UTC)
        self._generation = 0

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock.now() < self._expires:
            return self._token
        return None

    async def get(self, login: Callable[[], Awaitable[TokenResponse]]) -> tuple[str, int]:
        """The current token and its generation, logging in first when there is none."""
        token = self._fresh()
        if token is not None:
            return token, self._generation
        async with self._lock:
            token = self._fresh()
            if token is None:
                token = self._store(await login())
            return token, self._generation

    def _store(self, reply: TokenResponse) -> str:
        now = self._clock.now()
        issued = now
        if reply.created_at is not None:
            # A token is fresh when it arrives: a created_at far from our clock is clock skew.
            created = datetime.fromtimestamp(reply.created_at, tz=UTC)
            if now - self._margin <= created <= now:
                issued = created
        self._expires = issued + timedelta(seconds=reply.expires_in) - self._margin
        self._token = reply.access_token
        self._generation += 1
        return reply.access_token

    def invalidate(self, generation: int) -> None:
        """Forget the token of ``generation``; a newer one (another caller's relogin) stays."""
        if generation == self._generation:
            self._token = None


class PayTraceSession:
    """Sends v1 requests: JSON with integrator_id, Bearer token, the retry rules of outcome.py."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        username: str,
        password: str,
        integrator_id: str,
        base_url: str,
        clock: Clock | None,
        timeout: float,
        retries: int,
        sleep: Sleep | None,
        token_margin: timedelta = timedelta(minutes=5),
        max_retry_wait: float = 30.0,
    ) -> None:
        self._http = http
        self._form = {"grant_type": "password", "username": username, "password": password}
        self._base = base_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self._timeout = timeout
        self._retries = max(retries, 0)
        self._sleep: Sleep = sleep or asyncio.sleep
        self._max_wait = max_retry_wait
        self._tokens = TokenCache(self.clock, token_margin)
        quoted = json.dumps(integrator_id).encode()
        self._integrator_only = b'{"integrator_id":' + quoted + b"}"
        self._integrator_head = b'{"integrator_id":' + quoted + b","

    def encode(self, request: PayTraceRequest | None) -> bytes:
        """The JSON body: the request's fields (None left out) plus integrator_id."""
        if request is None:
            return self._integrator_only
        inner = request.model_dump_json(exclude_none=True).encode()
        if inner == b"{}":
            return self._integrator_only
        return self._integrator_head + inner[1:]

    async def call(
        self,
        endpoint: Endpoint,
        request: PayTraceRequest | None,
        model: type[T],
        reference: str = "",
        context: dict[str, Any] | None = None,
    ) -> T:
        """POST ``request`` to ``endpoint`` and map the reply (validated with ``context``);
        relogin once on a refused token."""
        content = self.encode(request)
        url = self._base + endpoint.path
        relogged = False
        while True:
            token, generation = await self._tokens.get(self._login)
            headers = {**_JSON_HEADERS, "Authorization": f"Bearer {token}"}
            try:
                send = functools.partial(self._post, url, content, headers)
                return await self._exchange(endpoint, model, reference, send, context)
            except TokenRejected:
                if relogged:
                    raise
                relogged = True
                self._tokens.invalidate(generation)

    async def log_in(self) -> None:
        """Have a fresh token now (logging in if needed), so that the next call leaves at once."""
        await self._tokens.get(self._login)

    async def _login(self) -> TokenResponse:
        url = self._base + TOKEN.path

        async def send() -> httpx.Response:
            return await self._http.post(
                url, data=self._form, headers={"Accept": "application/json"}, timeout=self._timeout
            )

        # The token endpoint maps every refusal (401, invalid_grant) to ConfigError.
        return await self._exchange(TOKEN, TokenResponse, "", send)

    async def _post(self, url: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("POST %s %s", url, redact(json.loads(content)))
        response = await self._http.post(
            url, content=content, headers=headers, timeout=self._timeout
        )
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "%s %s -> %s %s", "POST", url, response.status_code, redact_text(response.text)
            )
        return response

    async def _exchange(
        self,
        endpoint: Endpoint,
        model: type[T],
        reference: str,
        send: Callable[[], Awaitable[httpx.Response]],
        context: dict[str, Any] | None = None,
    ) -> T:
        """One logical call: send, map, and repeat a repeatable call on a transient failure."""
        attempt = 0
        while True:
            outcome: httpx.Response | Exception
            try:
                outcome = await send()
            except httpx.TransportError as exc:
                outcome = exc
            try:
                return map_outcome(endpoint, outcome, model, reference, context)
            except RetryableError as exc:
                delay = self._delay(endpoint, exc, attempt)
                if delay is None:
                    raise
            attempt += 1
            await self._sleep(delay)

    def _delay(self, endpoint: Endpoint, exc: RetryableError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise."""
        if not endpoint.repeatable or attempt >= self._retries:
            return None
        delay = exc.retry_after if exc.retry_after is not None else 0.5 * (2**attempt)
        return delay if delay <= self._max_wait else None
