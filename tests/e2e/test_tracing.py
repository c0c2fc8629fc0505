"""`paybridge worker` with `tracing:` on sends its spans over OTLP/HTTP to a collector stand-in
(a local HTTP receiver): one trace runs from the PayTrace poll through the queue to the D365
write of the payment it found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.product import World, open_world, wait_for
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def spans_of(bodies: list[bytes]) -> dict[str, list[Any]]:
    """Span name -> the spans of that name in every OTLP export received."""
    found: dict[str, list[Any]] = {}
    for body in bodies:
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found.setdefault(span.name, []).append((service, span))
    return found


def test_a_payment_is_one_trace_from_poll_to_d365_write(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # export every 0.2 s, not every 5 s
    with webhook_receiver() as collector:
        world.write_settings({
            "tracing": {"enabled": True, "exporter": "otlp", "service_name": "paybridge-e2e",
                        "endpoint": f"{collector.url}/v1/traces"},
        })  # fmt: skip
        worker = world.start_engine("worker")
        world.paytrace.create_customer("US-002")
        sale = world.paytrace.sale_by_customer("US-002", "17.25", "TRACE-1")
        wait_for("D365 holds the sale's line", lambda: world.dynamics.payment_lines(sale),
                 timeout=60, watch=[worker])  # fmt: skip

        def traced() -> dict[str, list[Any]]:
            return spans_of([d.body for d in collector.deliveries if d.path == "/v1/traces"])

        def chain(spans: dict[str, list[Any]]) -> list[Any]:
            """The D365 write span and its ancestors, as far as the collector has them (a parent
            ends after its child, so it may come in a later export)."""
            by_id = {span.span_id: span for found in spans.values() for _, span in found}
            chained = [span for _, span in spans.get("d365 write journal lines", [])[:1]]
            while chained and chained[-1].parent_span_id in by_id:
                chained.append(by_id[chained[-1].parent_span_id])
            return chained

        found = wait_for(
            "the collector has the D365 write span and its parents", traced,
            lambda spans: len(chain(spans)) >= 3, timeout=20, watch=[worker],
        )  # fmt: skip
    assert {d.headers["content-type"] for d in collector.deliveries} == {"application/x-protobuf"}
    ((service, write),) = found["d365 write journal lines"]
    assert service["service.name"] == "paybridge-e2e"
    by_id = {span.span_id: span for spans in found.values() for _, span in spans}
    process = by_id[write.parent_span_id]
    poll = by_id[process.parent_span_id]
    assert (process.name, poll.name) == ("process payment", "job paytrace.poll")
    assert write.trace_id == process.trace_id == poll.trace_id
    attributes = {a.key: a.value for a in write.attributes}
    assert attributes["paybridge.lines"].int_value == 1
    assert attributes["paybridge.company"].string_value == "usmf"
