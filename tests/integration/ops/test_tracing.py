"""OpenTelemetry traces across poll -> queue -> D365 write, from the engine `build_engine` makes:
the trace context travels in the queue envelope, so the D365 write span descends from the poll
span; no card data reaches a span; with tracing off nothing of OpenTelemetry is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from paybridge.app.ops import tracer_for
from paybridge.app.settings import load_settings
from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import CustomerSaleRequest
from paybridge.errors import ConfigError
from paybridge.ops.settings import TracingSettings
from paybridge.ops.tracing import build_tracer
from paybridge.security.cardguard import card_numbers_in_text
from paybridge.store.schema import queue
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import open_profile, sandbox_engine, sandbox_http, sandbox_settings

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
CARD = "4012000098765439"


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


@pytest.mark.anyio
async def test_the_d365_write_span_descends_from_the_poll_span_through_the_queue(
    tmp_path: Path,
) -> None:
    spans = InMemorySpanExporter()
    tracer = build_tracer(TracingSettings(enabled=True), exporter=spans)
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(
            sandbox_settings(tmp_path), clock=clock, pt_http=pt_http, d_http=d_http,
            d365_app=d365, tracer=tracer,
        )  # fmt: skip
        await open_profile(engine, "SHOP-1", "US-001")
        for amount in ("12.34", "56.78"):
            await engine.paytrace.sale_by_customer(
                CustomerSaleRequest(customer_id="SHOP-1", amount=Decimal(amount))
            )
        assert "paytrace.poll" in await engine.scheduler.tick(wait=True)
        with engine.store.engine.connect() as conn:
            stored = [json.loads(h) for h in conn.execute(select(queue.c.headers)).scalars()]
        while await engine.worker.run_once():
            pass
        await engine.aclose()
    finished = list(spans.get_finished_spans())
    poll = _one(finished, "job paytrace.poll")
    process = _one(finished, "process payment")
    write = _one(finished, "d365 write journal lines")
    trace_id = poll.context.trace_id
    # The envelopes carry the poll span's context (W3C traceparent), stored with the message.
    assert len(stored) == 2
    assert all(h["traceparent"].split("-")[1] == f"{trace_id:032x}" for h in stored)
    assert all(h["traceparent"].split("-")[2] == f"{poll.context.span_id:016x}" for h in stored)
    # poll -> (queue) -> process payment -> d365 write, one trace.
    assert process.parent is not None and process.parent.span_id == poll.context.span_id
    assert write.parent is not None and write.parent.span_id == process.context.span_id
    assert {s.context.trace_id for s in (poll, process, write)} == {trace_id}
    assert process.attributes is not None and process.attributes["paybridge.outcomes.done"] == 2
    assert write.attributes is not None and write.attributes["paybridge.lines"] == 2
    assert write.attributes["paybridge.company"] == "usmf"
    assert poll.resource.attributes["service.name"] == "paybridge"
    every = "\n".join(s.to_json() for s in finished)
    assert not card_numbers_in_text(every)


def test_the_card_guard_applies_to_span_names_attributes_and_errors() -> None:
    spans = InMemorySpanExporter()
    tracer = build_tracer(TracingSettings(enabled=True), exporter=spans)

    def charge() -> None:
        with tracer.span(f"charge {CARD}", attributes={"note": f"card {CARD}", "n": 1}) as span:
            span.set_attribute(
                "request", json.dumps({"credit_card": {"number": CARD}, "csc": "999"})
            )
            raise ValueError(f"declined {CARD}")

    with pytest.raises(ValueError, match="declined"):
        charge()
    (finished,) = spans.get_finished_spans()
    text = finished.to_json()
    assert CARD not in text and '\\"999\\"' not in text
    assert finished.attributes is not None and finished.attributes["n"] == 1
    assert finished.status.description == "ValueError"  # its type, never its message
    assert finished.attributes["note"] == "card xxxxxxxxxxxx5439"  # the last four at most
    tracer.shutdown()


def test_tracing_off_imports_nothing_of_opentelemetry(tmp_path: Path) -> None:
    """The engine built with ``tracing.enabled: false`` (the default) loads no OpenTelemetry."""
    program = f"""
import sys
from pydantic import SecretStr
from paybridge.app.engine import build_engine
from paybridge.app.settings import Settings, StoreSettings
from paybridge.runtime.tracing import NO_TRACING
settings = Settings(store=StoreSettings(url="sqlite:///{tmp_path / "off.db"}"))
settings = settings.model_copy(update={{"paytrace": settings.paytrace.model_copy(update={{
    "username": SecretStr("u"), "password": SecretStr("p"), "integrator_id": SecretStr("i")}}),
    "dynamics": settings.dynamics.model_copy(update={{"client_secret": SecretStr("s")}})}})
engine = build_engine(settings)
assert engine.tracer is NO_TRACING
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
print("loaded:", loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "loaded: []", result.stdout


def test_tracing_settings_are_checked_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text("tracing:\n  enabled: true\n  endpoint: collector:4318\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tracing\.endpoint: 'collector:4318' is not an http"):
        load_settings(path, {})
    path.write_text("tracing:\n  enabled: true\n", encoding="utf-8")
    settings = load_settings(path, {})
    # The OTLP exporter is an extra of its own: without it, one line says what to install.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"tracing.exporter: otlp needs .*paybridge\[otel-otlp\]"):
        tracer_for(settings)


def test_the_console_exporter_writes_one_json_span_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tracer = build_tracer(TracingSettings(enabled=True, exporter="console", service_name="pb-1"))
    with tracer.span("job paytrace.poll"), tracer.span("process payment", kind="consumer"):
        pass
    tracer.shutdown()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["name"] for line in lines] == ["process payment", "job paytrace.poll"]
    child, parent = lines
    assert child["parent_id"] == parent["context"]["span_id"]
    assert child["kind"] == "SpanKind.CONSUMER"
    assert parent["resource"]["attributes"]["service.name"] == "pb-1"
