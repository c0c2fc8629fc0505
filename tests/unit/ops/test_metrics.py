"""/metrics' figures come from the store: queue, dead letters, intents, charges, every process's
counters from its heartbeat, and the approval -> ledger latency of lines posted since start."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from paybridge.app.store import Store, open_store
from paybridge.clock import ManualClock
from paybridge.keys import LINE_STEP
from paybridge.ops.counters import REQUESTS, ProcessCounters
from paybridge.ops.figures import StoreFigures
from paybridge.ops.heartbeat import Heartbeat
from paybridge.ops.metrics import LatencyTail, Metrics, StoreCollector
from paybridge.runtime.envelope import Envelope


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(store_url: str, clock: ManualClock) -> Store:
    return open_store(store_url, clock)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metrics_of(store: Store, clock: ManualClock, latency: LatencyTail | None = None) -> Metrics:
    return Metrics(
        StoreCollector(StoreFigures(store.engine), clock, latency=latency, cache_seconds=0)
    )


def test_store_figures_and_process_counters_are_exported(store: Store, clock: ManualClock) -> None:
    queue = store.queue
    queue.enqueue([Envelope("payment", f"k{n}", f"p{n}", {}) for n in range(3)])
    clock.advance(90)
    queue.enqueue([Envelope("charge.resolve", "c1", "c1", {})])
    (leased,) = [e for e in queue.claim("w", 1)]
    dead = next(e for e in queue.claim("w", 10) if e.key == "k1")
    assert queue.dead(dead, "bad data") and dead.id is not None
    queue.triage(dead.id, "resolve", "cli:ana")

    counters = ProcessCounters()
    counters.inc(REQUESTS, {"system": "dynamics", "status": "429"}, 3)
    beat = Heartbeat(store.engine, clock, "worker-a", counters, extra=lambda: [
        {"name": "worker_messages", "labels": {"outcome": "done"}, "value": 7}
    ])  # fmt: skip
    beat.beat()
    clock.advance(30)
    got = samples(metrics_of(store, clock).render().decode())

    assert got[("paybridge_store_up", ())] == 1
    assert got[("paybridge_queue_depth", (("status", "ready"), ("topic", "payment")))] == 0
    assert got[("paybridge_queue_depth", (("status", "leased"), ("topic", "payment")))] == 2
    assert got[("paybridge_queue_depth", (("status", "leased"), ("topic", "charge.resolve")))] == 1
    assert got[("paybridge_queue_oldest_age_seconds", (("topic", "payment"),))] == 120
    assert got[("paybridge_queue_oldest_age_seconds", (("topic", "charge.resolve"),))] == 30
    assert got[("paybridge_dead_letters", (("state", "resolved"), ("topic", "payment")))] == 1
    assert got[("paybridge_dead_letters", (("state", "open"), ("topic", "payment")))] == 0
    assert (
        got[
            (
                "paybridge_http_requests_total",
                (("process", "worker-a"), ("status", "429"), ("system", "dynamics")),
            )
        ]
        == 3
    )
    assert (
        got[("paybridge_worker_messages_total", (("outcome", "done"), ("process", "worker-a")))]
        == 7
    )
    host = next(
        h
        for (n, labels), _ in got.items()
        if n == "paybridge_process_up"
        for k, h in labels
        if k == "host"
    )
    assert (
        got[("paybridge_process_heartbeat_age_seconds", (("host", host), ("process", "worker-a")))]
        == 30
    )
    assert got[("paybridge_process_up", (("host", host), ("process", "worker-a")))] == 1
    clock.advance(60)
    assert (
        samples(metrics_of(store, clock).render().decode())[
            ("paybridge_process_up", (("host", host), ("process", "worker-a")))
        ]
        == 0
    )
    assert leased.key == "k0"


def test_a_clean_stop_removes_the_heartbeat(store: Store, clock: ManualClock) -> None:
    beat = Heartbeat(store.engine, clock, "worker-b", ProcessCounters())
    beat.beat()
    assert [p.name for p in StoreFigures(store.engine).read(clock.now()).processes] == ["worker-b"]
    beat.leave()
    assert StoreFigures(store.engine).read(clock.now()).processes == []


def test_latency_is_counted_for_lines_posted_after_start(store: Store, clock: ManualClock) -> None:
    def posted(txn: str, approved_seconds_ago: float) -> None:
        occurred = clock.now() - timedelta(seconds=approved_seconds_ago)
        key = f"paytrace:{txn}:sale"
        store.queue.enqueue([Envelope("payment", key, txn, {"occurred_at": occurred.isoformat()})])
        store.ledger.record(
            key, LINE_STEP, system="d365", entity="lines", entity_id=txn, status="posted"
        )

    posted("1", 500)  # before the tail started: not counted
    tail = LatencyTail(store.engine)
    tail.start()
    posted("2", 3)
    posted("3", 45)
    store.ledger.record(
        "paytrace:4:sale",
        "route",
        system="paybridge",
        entity="event",
        entity_id="4",
        status="noted",
    )
    got = samples(metrics_of(store, clock, tail).render().decode())
    name = "paybridge_approval_to_ledger_seconds"
    assert got[(f"{name}_count", (("kind", "sale"),))] == 2
    assert got[(f"{name}_sum", (("kind", "sale"),))] == 48
    assert got[(f"{name}_bucket", (("kind", "sale"), ("le", "5.0")))] == 1
    assert got[(f"{name}_bucket", (("kind", "sale"), ("le", "60.0")))] == 2
    posted("5", 1)
    again = samples(metrics_of(store, clock, tail).render().decode())
    assert again[(f"{name}_count", (("kind", "sale"),))] == 3  # only the new line was read


def test_a_store_that_does_not_answer_is_store_up_zero(
    tmp_path: object, clock: ManualClock
) -> None:
    broken = create_engine("sqlite:////nonexistent-folder/pb.db")
    got = samples(Metrics(StoreCollector(StoreFigures(broken), clock)).render().decode())
    assert got == {("paybridge_store_up", ()): 0}


def test_the_topics_the_engine_handles_are_reported_when_nothing_waits(
    store: Store, clock: ManualClock
) -> None:
    store.queue.enqueue([Envelope("payment", "k1", "p1", {})])
    (env,) = store.queue.claim("w", 1)
    store.queue.ack([env])
    collector = StoreCollector(
        StoreFigures(store.engine, ("alert", "payment")), clock, cache_seconds=0
    )
    got = samples(Metrics(collector).render().decode())
    for topic in ("alert", "payment"):
        assert got[("paybridge_queue_depth", (("status", "ready"), ("topic", topic)))] == 0
        assert got[("paybridge_queue_oldest_age_seconds", (("topic", topic),))] == 0
        assert got[("paybridge_dead_letters", (("state", "open"), ("topic", topic)))] == 0
    reported = {dict(labels)["topic"] for name, labels in got if name == "paybridge_queue_depth"}
    assert reported == {"alert", "payment"}
