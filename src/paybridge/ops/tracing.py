"""OpenTelemetry behind runtime's tracing seam (``runtime.tracing.Tracer``): a tracer provider
of its own (no global one is set), W3C trace-context headers across the queue, and every span
name, attribute and error passed through the card-data guard first.

Imported only when ``tracing.enabled``: with tracing off, nothing of OpenTelemetry is loaded.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from paybridge.errors import ConfigError
from paybridge.ops.settings import TracingSettings
from paybridge.runtime.tracing import Attributes, AttributeValue, Headers, Span
from paybridge.runtime.tracing import SpanKind as Kind
from paybridge.security.cardguard import redact_text

_KINDS = {
    "internal": SpanKind.INTERNAL,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "client": SpanKind.CLIENT,
}


def guarded(value: AttributeValue) -> AttributeValue:
    """A span attribute as it may leave the process: text with card data and secrets masked."""
    return redact_text(value) if isinstance(value, str) else value


class _OtelSpan:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, guarded(value))

    def set_error(self, description: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, redact_text(description)))


class OtelTracer:
    """``runtime.tracing.Tracer`` over one OpenTelemetry ``TracerProvider``."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("paybridge")
        self._propagator = TraceContextTextMapPropagator()

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        kind: Kind = "internal",
        attributes: Attributes | None = None,
        parent: Headers | None = None,
        links: Sequence[Headers] = (),
    ) -> Iterator[Span]:
        context = self._propagator.extract(dict(parent)) if parent else None
        linked = [Link(c) for c in (self._span_context(h) for h in links) if c.is_valid]
        clean = {k: guarded(v) for k, v in (attributes or {}).items()}
        # Exceptions are recorded by type only: their messages may quote a request's data.
        with self._tracer.start_as_current_span(
            redact_text(name), context=context, kind=_KINDS[kind], attributes=clean,
            links=linked, record_exception=False, set_status_on_exception=False,
        ) as span:  # fmt: skip
            handle = _OtelSpan(span)
            try:
                yield handle
            except BaseException as exc:
                handle.set_error(type(exc).__name__)
                raise

    def _span_context(self, headers: Headers) -> trace.SpanContext:
        return trace.get_current_span(self._propagator.extract(dict(headers))).get_span_context()

    def headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier

    def shutdown(self) -> None:
        """Send what is buffered, then stop (the engine's ``aclose``)."""
        self.provider.shutdown()


def _console() -> SpanExporter:
    return ConsoleSpanExporter(
        out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n"
    )


def _otlp(endpoint: str | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError(
            "tracing.exporter: otlp needs the OTLP exporter: pip install 'paybridge[otel-otlp]' "
            "(or set tracing.exporter: console)",
            operation="settings",
        ) from exc
    return OTLPSpanExporter(endpoint=endpoint)


def build_tracer(settings: TracingSettings, exporter: SpanExporter | None = None) -> OtelTracer:
    """The tracer ``tracing:`` describes; ``exporter`` replaces the configured one (tests)."""
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(_console()))
    else:
        provider.add_span_processor(BatchSpanProcessor(_otlp(settings.endpoint)))
    return OtelTracer(provider)
