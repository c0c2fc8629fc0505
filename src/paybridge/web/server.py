"""uvicorn embedded in PayBridge's own event loop, leaving signals to the caller, hardened against slow clients.

What uvicorn offers, and what PayBridge sets (``ServerLimits``):

- ``timeout_keep_alive``: an idle keep-alive connection is closed after 5 s (uvicorn's default,
  set explicitly);
- ``h11_max_incomplete_event_size``: request line and headers together are at most 16 KiB
  (h11's default, set explicitly); more is a 400;
- ``limit_concurrency``: past 1,000 open connections or tasks, new requests get a 503 instead
  of exhausting file descriptors;
- ``proxy_headers`` off: uvicorn would otherwise believe ``X-Forwarded-For`` from 127.0.0.1;
  the app believes it only from ``web.trusted_proxies``.

uvicorn has no timeout for a client that connects and sends its headers slowly (or never): a
slowloris holds the connection for ever. ``HeaderTimeoutH11Protocol`` closes a connection whose
request line and headers are not complete ``header_timeout`` seconds (10) after it opened or after
its previous response. The body has its own deadline in the card guard (``web.body_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class ServerLimits:
    header_timeout: float = 10.0
    keep_alive: int = 5
    max_header_bytes: int = 16 * 1024
    max_connections: int = 1000


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request's line and headers."""

    header_timeout = ServerLimits.header_timeout

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaited: Any = None
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._awaited = self.cycle  # a new cycle means the headers of a new request are in
        self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self.cycle is self._awaited and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._awaited:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def _protocol(header_timeout: float) -> type[HeaderTimeoutH11Protocol]:
    return type(
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": header_timeout}
    )


def harden(config: uvicorn.Config, limits: ServerLimits) -> uvicorn.Config:
    """``config`` with the limits above (before uvicorn loads it)."""
    config.http = _protocol(limits.header_timeout)
    config.timeout_keep_alive = limits.keep_alive
    config.h11_max_incomplete_event_size = limits.max_header_bytes
    config.limit_concurrency = limits.max_connections
    config.proxy_headers = False
    return config


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server whose owner handles Ctrl-C and SIGTERM, to stop everything in order."""

    def __init__(self, config: uvicorn.Config, limits: ServerLimits | None = None) -> None:
        super().__init__(harden(config, limits or ServerLimits()))

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class SwitchableApp:
    """An ASGI app that forwards to another, which can be replaced while serving (``serve``
    rebuilds its API when its engine is rebuilt; requests in flight finish on the old one)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
