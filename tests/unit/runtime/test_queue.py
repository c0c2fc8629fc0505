"""The durable queue: inbox dedupe, per-partition order, leases, delays, dead letters, replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from paybridge.clock import ManualClock
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue
from paybridge.store import open_engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(store_url: str, clock: ManualClock) -> SqlQueue:
    return SqlQueue(open_engine(store_url), clock)


def env(key: str, partition: str = "p") -> Envelope:
    return Envelope(topic="t", key=key, partition_key=partition, payload={"k": key})


def test_a_duplicate_key_is_dropped_and_counted(queue: SqlQueue) -> None:
    assert queue.enqueue([env("a"), env("b")]) == [True, True]
    assert queue.enqueue([env("a")]) == [False]
    stats = queue.stats()
    assert (stats.ready, stats.duplicates) == (2, 1)


def test_one_partition_is_served_in_order(queue: SqlQueue) -> None:
    queue.enqueue([env("sale", "tx1"), env("refund", "tx1"), env("other", "tx2")])
    first = queue.claim("w", 10)
    assert [e.key for e in first] == ["sale", "other"]
    assert queue.claim("w", 10) == []  # the refund waits for its sale
    queue.ack([first[0]])
    assert [e.key for e in queue.claim("w", 10)] == ["refund"]


def test_a_retried_message_still_blocks_its_partition(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue([env("sale", "tx1"), env("refund", "tx1")])
    (sale,) = queue.claim("w", 10)
    queue.retry(sale, 30, "D365 busy")
    assert queue.claim("w", 10) == []
    clock.advance(31)
    again = queue.claim("w", 10)
    assert [e.key for e in again] == ["sale"]
    assert again[0].attempts == 2


def test_an_expired_lease_comes_back(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue([env("a")])
    assert len(queue.claim("crashed", 10, lease_seconds=60)) == 1
    assert queue.claim("other", 10) == []
    clock.advance(61)
    (back,) = queue.claim("other", 10)
    assert back.key == "a" and back.attempts == 2


def test_dead_letters_keep_their_reason_and_replay(queue: SqlQueue) -> None:
    queue.enqueue([env("a")])
    (msg,) = queue.claim("w", 1)
    queue.dead(msg, "no D365 customer")
    (letter,) = queue.dead_letters()
    assert letter["dead_reason"] == "no D365 customer"
    assert queue.replay(msg.id or 0) is True
    assert queue.replay(msg.id or 0) is False
    assert [e.key for e in queue.claim("w", 1)] == ["a"]


def test_release_gives_messages_back_without_counting_an_attempt(queue: SqlQueue) -> None:
    queue.enqueue([env("a")])
    (msg,) = queue.claim("w", 1)
    queue.release([msg])
    (again,) = queue.claim("w", 1)
    assert again.attempts == 1


def test_a_key_repeated_within_one_publish_is_a_duplicate(queue: SqlQueue) -> None:
    assert queue.enqueue([env("a"), env("b"), env("a")]) == [True, True, False]
    assert queue.enqueue([env("b"), env("c")]) == [False, True]
    stats = queue.stats()
    assert (stats.ready, stats.duplicates) == (3, 2)


def test_a_sqlite_store_makes_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'deeper' / 'paybridge.db'}"
    SqlQueue(open_engine(url), ManualClock()).enqueue([env("a")])
    assert (tmp_path / "var" / "deeper" / "paybridge.db").exists()


def test_a_worker_whose_lease_ran_out_changes_nothing(queue: SqlQueue, clock: ManualClock) -> None:
    """Fencing: the slow first holder's ack, retry or dead letter lands on no row."""
    queue.enqueue([env("a"), env("b", "q")])
    slow_a, slow_b = queue.claim("slow", 10, lease_seconds=60)
    clock.advance(61)
    fresh_a, fresh_b = queue.claim("fresh", 10, lease_seconds=60)
    assert fresh_a.attempts == slow_a.attempts + 1
    assert queue.ack([slow_a]) == []
    assert queue.dead(slow_b, "the first holder's reason") is False
    assert queue.retry(slow_a, 5, "late") is False
    assert queue.renew([slow_a], 60) == []
    assert queue.stats().leased == 2  # still the fresh worker's
    assert queue.ack([fresh_a]) == [fresh_a.id]
    assert queue.dead(fresh_b, "its own reason") is True
    (dead,) = queue.dead_letters()
    assert dead["key"] == "b" and "its own reason" in str(dead["dead_reason"])


def test_a_renewed_lease_is_not_taken_by_another_worker(
    queue: SqlQueue, clock: ManualClock
) -> None:
    queue.enqueue([env("a")])
    (held,) = queue.claim("busy", 1, lease_seconds=60)
    clock.advance(50)
    assert queue.renew([held], 60) == [held.id]
    clock.advance(50)  # 100 s after the claim, 50 after the renewal
    assert queue.claim("other", 1) == []
    assert queue.ack([held]) == [held.id]


def test_times_go_in_as_the_store_keeps_them(queue: SqlQueue, clock: ManualClock) -> None:
    """Bulk inserts go to the driver: their times must read back, and compare, like the rest."""
    from sqlalchemy import select

    from paybridge.store.schema import inbox
    from paybridge.store.schema import queue as table

    queue.enqueue([env("a")])
    with queue.engine.connect() as conn:
        row = conn.execute(select(table.c.not_before, table.c.created_at)).one()
        received = conn.execute(select(inbox.c.received_at)).scalar_one()
        if conn.dialect.name == "sqlite":  # the text SQLAlchemy writes, six decimals and all
            raw = conn.exec_driver_sql("SELECT not_before FROM queue").scalar_one()
            assert raw == clock.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    assert row.not_before == row.created_at == received == clock.now()
    (claimed,) = queue.claim("w", 10)  # due at the very instant it was published
    assert queue.retry(claimed, 0, "again")
    assert [e.key for e in queue.claim("w", 10)] == ["a"]


def test_a_batch_of_claims_is_fenced_each_by_its_own_number(
    queue: SqlQueue, clock: ManualClock
) -> None:
    queue.enqueue([env("a", "p1"), env("b", "p2"), env("c", "p3")])
    first = {e.key: e for e in queue.claim("w1", 10, lease_seconds=10)}
    assert queue.retry(first["a"], 0, "once more")
    clock.advance(11)  # b and c: the lease ran out; another worker claims them (and a)
    second = {e.key: e for e in queue.claim("w2", 10)}
    assert {k: e.attempts for k, e in second.items()} == {"a": 2, "b": 2, "c": 2}
    stale = [first["b"], first["c"]]
    assert queue.ack([*stale, second["a"]]) == [second["a"].id]  # the stale ones change nothing
    assert sorted(queue.ack([second["b"], second["c"]])) == sorted([second["b"].id, second["c"].id])
    assert queue.stats().done == 3


def test_a_large_publish_keeps_order_and_counts_duplicates(queue: SqlQueue) -> None:
    items = [env(f"k{i}", f"p{i % 7}") for i in range(1200)]
    assert queue.enqueue(items[:500]) == [True] * 500
    fresh = queue.enqueue([*items, env("k3"), env("new")])
    assert fresh == [False] * 500 + [True] * 700 + [False, True]
    assert queue.stats().duplicates == 501
    seen: list[str] = []
    while batch := queue.claim("w", 1000):
        seen += [e.key for e in batch]
        queue.ack(batch)
    assert len(seen) == 1201
    for partition in range(7):  # each partition in publishing order
        keys = [k for k in seen if k != "new" and int(k[1:]) % 7 == partition]
        assert keys == sorted(keys, key=lambda k: int(k[1:]))


def test_the_hot_statements_reach_the_partial_indexes(tmp_path: Path) -> None:
    """A claim walks ``ix_queue_ready``, a partition's order ``ix_queue_open``, expired leases
    ``ix_queue_leased``: each names its states as literals. States bound as parameters (an
    ``IN (?, ?)`` here; any of them in PostgreSQL's generic plans) miss the partial index and
    walk every older message ever queued, at every claim (420 msg/s instead of 10,000)."""
    from sqlalchemy import event

    q = SqlQueue(open_engine(f"sqlite:///{tmp_path / 'plans.db'}"), ManualClock())
    q.enqueue([env(f"k{n}", f"p{n % 3}") for n in range(9)])
    seen: list[tuple[str, object]] = []

    def keep(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
        seen.append((sql, params))

    event.listen(q.engine, "before_cursor_execute", keep)
    q.ack(q.claim("w", 10))
    event.remove(q.engine, "before_cursor_execute", keep)
    plans = []
    with q.engine.connect() as conn:
        for sql, params in seen:
            if sql.startswith("UPDATE queue SET status"):
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()  # type: ignore[arg-type]
                plans.append(" | ".join(str(row[-1]) for row in rows))
    expire, claim = plans[0], plans[1]
    assert "USING INDEX ix_queue_leased" in expire, expire
    assert "USING INDEX ix_queue_ready" in claim and "USING INDEX ix_queue_open" in claim, claim


@pytest.mark.postgres
def test_the_inbox_staging_table_is_emptied_at_each_commit() -> None:
    """PostgreSQL stages a publish's keys in a temporary table: each commit must leave its file
    empty (autovacuum never visits temporary tables; dead rows would make every later publish
    of a long-lived connection read all of them)."""
    from sqlalchemy import text

    from tests.conftest import drop_postgres_schema, postgres_schema_url

    schema, url = postgres_schema_url()
    try:
        q = SqlQueue(open_engine(url), ManualClock())
        with q.engine.connect() as conn:
            for batch in range(3):
                with conn.begin():
                    q.publish(conn, [env(f"b{batch}-{n}", f"p{n}") for n in range(300)])
                size = conn.execute(text("SELECT pg_relation_size('paybridge_inbox_in')"))
                assert size.scalar() == 0, f"after publish {batch}"
                conn.commit()
        assert q.stats().ready == 900
        q.engine.dispose()
    finally:
        drop_postgres_schema(schema)
