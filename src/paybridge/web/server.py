"""uvicorn embedded in PayBridge's own event loop, leaving signals to the caller."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server whose owner handles Ctrl-C and SIGTERM, to stop everything in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
