"""The tracing seam: spans around scheduled jobs, queue hand-offs and writes, with no tracing
library behind it here.

``runtime`` and the capabilities know only ``Tracer``. ``app`` hands in one built over
OpenTelemetry (``ops.tracing``) when ``tracing.enabled``; otherwise ``NO_TRACING``, which does
nothing and imports nothing. A trace crosses the queue as W3C trace-context headers
(``traceparent``, ``tracestate``) kept in the envelope's ``headers``: ``SqlQueue.publish`` adds
the publisher's, and the worker opens its span as their child.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, Protocol

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]
Headers = Mapping[str, str]
SpanKind = Literal["internal", "producer", "consumer", "client"]


class Span(Protocol):
    """The span in hand: more attributes as they become known, and how it ended."""

    def set_attribute(self, key: str, value: AttributeValue) -> None: ...

    def set_error(self, description: str) -> None: ...


class Tracer(Protocol):
    def span(
        self,
        name: str,
        *,
        kind: SpanKind = "internal",
        attributes: Attributes | None = None,
        parent: Headers | None = None,
        links: Sequence[Headers] = (),
    ) -> contextlib.AbstractContextManager[Span]:
        """A span, current while the block runs; a child of ``parent`` (trace headers) when
        given, else of the current span; ``links`` name other traces it also continues."""
        ...

    def headers(self) -> dict[str, str]:
        """The current span as trace headers to send along ({} when there is none)."""
        ...

    def shutdown(self) -> None:
        """Send what is buffered and stop (the process is ending)."""
        ...


class _NoSpan:
    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None

    def set_error(self, description: str) -> None:
        return None


class NoTracing:
    """Tracing off: spans cost a context manager and nothing else."""

    enabled = False

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        kind: SpanKind = "internal",
        attributes: Attributes | None = None,
        parent: Headers | None = None,
        links: Sequence[Headers] = (),
    ) -> Iterator[Span]:
        yield _NoSpan()

    def headers(self) -> dict[str, str]:
        return {}

    def shutdown(self) -> None:
        return None


NO_TRACING = NoTracing()
