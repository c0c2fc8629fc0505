"""Audit log: append-only in the database, hash-chained, and `verify` names the first bad row."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from paybridge.clock import ManualClock
from paybridge.security.audit import GENESIS, AuditLog, row_hash
from paybridge.store import open_engine


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


def fill(log: AuditLog, clock: ManualClock, count: int = 5) -> None:
    for n in range(count):
        log.record(
            actor=f"key:{n:012d}", action="keys.create" if n % 2 else "vault.set",
            target=f"t{n}", client="10.0.0.1", detail={"n": n},
        )  # fmt: skip
        clock.advance(60)


def drop_guards(engine: Engine) -> None:
    """What an intruder with database access does first."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))


def test_an_untouched_chain_verifies(engine: Engine) -> None:
    clock = ManualClock()
    log = AuditLog(engine, clock)
    assert log.verify().ok and log.verify().head_hash == GENESIS
    fill(log, clock)
    report = log.verify()
    assert report.ok and report.rows == 5
    newest = log.search(limit=1)[0]
    assert report.head_hash == newest.hash and newest.seq == 5
    assert newest.at.tzinfo is not None
    assert row_hash(vars(newest), newest.prev_hash) == newest.hash


def test_the_database_refuses_updates_and_deletes(engine: Engine) -> None:
    clock = ManualClock()
    log = AuditLog(engine, clock)
    fill(log, clock, 2)
    for statement in ("UPDATE audit_log SET outcome = 'ok2'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert log.verify().ok and log.verify().rows == 2


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "problem"),
    [
        ("UPDATE audit_log SET outcome = 'denied' WHERE seq = 3", 3, "changed"),
        ("UPDATE audit_log SET detail = '{\"n\": 9}' WHERE seq = 2", 2, "changed"),
        ("DELETE FROM audit_log WHERE seq = 3", 4, "missing"),
        ("DELETE FROM audit_log WHERE seq = 1", 2, "missing"),
        ("UPDATE audit_log SET seq = seq + 100 WHERE seq = 2", 3, "missing"),
    ],
)
def test_verify_names_the_first_edited_or_deleted_row(
    engine: Engine, tamper: str, bad_seq: int, problem: str
) -> None:
    clock = ManualClock()
    log = AuditLog(engine, clock)
    fill(log, clock)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text(tamper))
    report = log.verify()
    assert not report.ok
    assert report.bad_seq == bad_seq and problem in report.problem


def test_swapping_two_rows_is_detected(engine: Engine) -> None:
    clock = ManualClock()
    log = AuditLog(engine, clock)
    fill(log, clock)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = 100 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 100"))
    report = log.verify()
    assert not report.ok and report.bad_seq == 2


def test_rewriting_a_row_with_a_fresh_hash_breaks_the_next_link(engine: Engine) -> None:
    clock = ManualClock()
    log = AuditLog(engine, clock)
    fill(log, clock)
    drop_guards(engine)
    row = next(e for e in log.search() if e.seq == 2)
    forged = {**vars(row), "outcome": "ok-forged"}
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET outcome = :o, hash = :h WHERE seq = 2"),
            {"o": "ok-forged", "h": row_hash(forged, row.prev_hash)},
        )
    report = log.verify()
    assert not report.ok and report.bad_seq == 3 and "does not chain" in report.problem


def test_filters_and_order(engine: Engine) -> None:
    clock = ManualClock()
    log = AuditLog(engine, clock)
    start = clock.now()
    fill(log, clock)
    assert [e.seq for e in log.search()] == [5, 4, 3, 2, 1]
    assert [e.seq for e in log.search(action="vault.")] == [5, 3, 1]
    assert [e.seq for e in log.search(actor="key:000000000001")] == [2]
    assert [e.seq for e in log.search(since=start.replace(minute=2), limit=2)] == [5, 4]
    assert [e.seq for e in log.search(until=start.replace(minute=1))] == [1]
    assert log.search(action="keys_create") == []  # "_" is a literal, not a wildcard
    assert log.search(outcome="denied") == []


def test_card_data_in_a_row_is_masked_before_it_is_written(engine: Engine) -> None:
    log = AuditLog(engine, ManualClock())
    entry = log.record(
        actor="anonymous", action="x", target="4111 1111 1111 1111",
        detail={"note": "card 4012000098765439", "cvv": "123"},
    )  # fmt: skip
    assert "4111 1111 1111 1111" not in entry.target and "1111" in entry.target
    assert "4012000098765439" not in entry.detail and '"cvv": "[REDACTED]"' in entry.detail
    assert log.verify().ok


def test_retention_is_at_least_twelve_months() -> None:
    from paybridge.security import audit

    assert audit.RETENTION_MONTHS >= 12
    assert not hasattr(AuditLog, "prune")  # nothing deletes audit rows
