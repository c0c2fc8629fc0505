"""Audit log: append-only in the database, HMAC-chained under a key outside it, its head anchored
in a file, and `verify` names the first bad row or the missing tail."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import DBAPIError

from paybridge.clock import ManualClock
from paybridge.errors import ConfigError
from paybridge.security.audit import GENESIS, AuditLog, row_hash, row_hmac
from paybridge.security.auditkeys import (
    ENV_KEY,
    AuditKeys,
    AuditLocations,
    audit_key_id,
    audit_locations,
)
from paybridge.security.settings import AuditSettings
from paybridge.store import open_engine
from paybridge.store.schema_security import audit_log


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


@pytest.fixture
def where(tmp_path: Path) -> AuditLocations:
    return AuditLocations(tmp_path / "keys" / "audit.key", tmp_path / "audit-head")


def open_log(engine: Engine, where: AuditLocations, clock: ManualClock | None = None) -> AuditLog:
    return AuditLog(engine, clock or ManualClock(), locations=where, keys=AuditKeys(where, {}))


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


def rechain_with_sha256(engine: Engine, log: AuditLog, start: int, *, drop_keys: bool) -> None:
    """An intruder who can write the table but not read the key: edit row ``start`` and recompute
    every later link the only way they can (plain SHA-256, optionally claiming rows are legacy)."""
    rows = sorted(log.search(limit=1000), key=lambda e: e.seq)
    prev = GENESIS
    with engine.begin() as conn:
        for row in rows:
            fields = vars(row)
            if row.seq == start:
                fields = {**fields, "outcome": "forged"}
            if row.seq >= start or drop_keys:
                digest = row_hash(fields, prev)
                conn.execute(
                    text(
                        "UPDATE audit_log SET outcome = :o, prev_hash = :p, hash = :h, key_id = :k "
                        "WHERE seq = :s"
                    ),
                    {"o": fields["outcome"], "p": prev, "h": digest, "s": row.seq,
                     "k": "" if drop_keys else row.key_id},
                )  # fmt: skip
                prev = digest
            else:
                prev = row.hash


def test_an_untouched_chain_verifies_under_its_key(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    assert log.verify().ok and log.verify().head_hash == GENESIS
    fill(log, clock)
    report = log.verify()
    assert report.ok and report.rows == 5 and report.anchored_seq == 5
    newest = log.search(limit=1)[0]
    assert report.head_hash == newest.hash and newest.seq == 5
    assert newest.at.tzinfo is not None
    key = log.keys.active()
    assert key is not None and newest.key_id == audit_key_id(key)
    assert report.key_ids == [newest.key_id]
    assert row_hmac(key, vars(newest), newest.prev_hash) == newest.hash
    assert row_hash(vars(newest), newest.prev_hash) != newest.hash  # not the unkeyed hash


def test_key_and_anchor_files_are_the_owners_alone(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    fill(open_log(engine, where, clock), clock, 2)
    for path in (where.key_file, where.anchor_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    anchor = json.loads(where.anchor_file.read_text())
    assert anchor["seq"] == 2 and len(anchor["hmac"]) == 64 and "sig" in anchor


def test_the_database_refuses_updates_and_deletes(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
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
    engine: Engine, where: AuditLocations, tamper: str, bad_seq: int, problem: str
) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text(tamper))
    report = log.verify()
    assert not report.ok
    assert report.bad_seq == bad_seq and problem in report.problem


def test_swapping_two_rows_is_detected(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = 100 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 100"))
    report = log.verify()
    assert not report.ok and report.bad_seq == 2


def test_recomputing_the_chain_without_the_key_is_detected(
    engine: Engine, where: AuditLocations
) -> None:
    """Issue 14 item 7: editing a row and recomputing every later hash used to verify intact."""
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock)
    drop_guards(engine)
    rechain_with_sha256(engine, log, 2, drop_keys=False)
    report = log.verify()
    assert not report.ok and report.bad_seq == 2 and "changed" in report.problem


def test_passing_keyed_rows_off_as_legacy_ones_is_detected(
    engine: Engine, where: AuditLocations
) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock)
    drop_guards(engine)
    rechain_with_sha256(engine, log, 3, drop_keys=True)
    report = log.verify()
    assert not report.ok and "anchor recorded" in report.problem and report.bad_seq == 5
    where.anchor_file.unlink()  # and hide the anchor too: the key file shows there was a chain
    report = log.verify()
    assert not report.ok and "anchor" in report.problem and "missing" in report.problem


def test_cutting_the_tail_is_detected_against_the_anchor(
    engine: Engine, where: AuditLocations
) -> None:
    """Issue 14 item 7: deleting the newest rows used to leave a chain that verified."""
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    report = log.verify()
    assert not report.ok and report.bad_seq == 4 and report.anchored_seq == 5
    assert "tail is missing" in report.problem and "row 5" in report.problem
    # Writing on after the cut does not hide it: the anchor only ever moves forward.
    fill(log, clock, 2)
    report = log.verify()
    assert not report.ok and report.bad_seq == 5 and "anchor recorded" in report.problem


def test_a_forged_or_removed_anchor_is_reported(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    row4 = next(e for e in log.search() if e.seq == 4)
    forged = {"seq": 4, "hmac": row4.hash, "key_id": row4.key_id, "sig": "0" * 64}
    where.anchor_file.write_text(json.dumps(forged))
    report = log.verify()
    assert not report.ok and "altered" in report.problem
    where.anchor_file.unlink()
    report = log.verify()
    assert not report.ok and "missing" in report.problem and report.bad_seq is None
    # The next append writes the anchor again and says so in the chain itself.
    fill(log, clock, 1)
    (newest,) = log.search(limit=1)
    assert newest.action == "audit.anchor_missing" and newest.outcome == "warning"


def test_rows_from_before_the_key_are_a_sealed_legacy_segment(
    engine: Engine, where: AuditLocations
) -> None:
    clock = ManualClock()
    prev = GENESIS
    with engine.begin() as conn:  # rows as the unkeyed chain of earlier releases wrote them
        for seq in (1, 2, 3):
            row = {
                "seq": seq, "at": datetime(2026, 1, seq, tzinfo=UTC), "actor": "cli:old",
                "action": "vault.set", "target": f"t{seq}", "client": "local", "outcome": "ok",
                "detail": "{}",
            }  # fmt: skip
            digest = row_hash(row, prev)
            conn.execute(insert(audit_log).values(**row, prev_hash=prev, hash=digest, key_id=""))
            prev = digest
    log = open_log(engine, where, clock)
    assert log.verify().ok and log.verify().legacy_rows == 3
    fill(log, clock, 2)
    seal = next(e for e in log.search() if e.seq == 4)
    assert seal.action == "audit.keyed" and json.loads(seal.detail)["legacy_head"] == prev
    report = log.verify()
    assert report.ok and report.legacy_rows == 3 and report.rows == 6
    drop_guards(engine)
    rechain_with_sha256(engine, log, 2, drop_keys=False)  # rewrites 2..6 the unkeyed way
    report = log.verify()
    assert not report.ok and report.bad_seq == 4


def test_a_legacy_row_after_keyed_ones_is_a_forgery(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock, 2)
    head = log.search(limit=1)[0]
    row = {**vars(head), "seq": 3, "action": "forged"}
    with engine.begin() as conn:
        conn.execute(
            insert(audit_log).values(
                **{k: row[k] for k in ("seq", "at", "actor", "action", "target", "client",
                                       "outcome", "detail")},
                prev_hash=head.hash, hash=row_hash(row, head.hash), key_id="",
            )
        )  # fmt: skip
    report = log.verify()
    assert not report.ok and report.bad_seq == 3 and "forged" in report.problem


def test_rotation_keeps_old_rows_verifiable(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock, 2)
    first = log.search(limit=1)[0].key_id
    second = log.keys.rotate()
    fill(log, clock, 2)
    report = log.verify()
    assert report.ok and report.key_ids == [first, second] and second != first
    assert log.search(limit=1)[0].key_id == second
    # Dropping the old key from the file makes the old rows unverifiable, and says which key.
    keys = where.key_file.read_text().splitlines()
    where.key_file.write_text(keys[0] + "\n")
    report = log.verify()
    assert not report.ok and report.bad_seq == 1 and first in report.problem


def test_a_lost_key_file_is_refused_not_replaced(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock, 2)
    where.key_file.unlink()
    fresh = open_log(engine, where, clock)
    with pytest.raises(ConfigError, match=r"audit\.key_file"):
        fresh.record(actor="cli:x", action="keys.create")
    assert not where.key_file.exists()
    report = fresh.verify()
    assert not report.ok and report.bad_seq == 1 and "audit.key_file" in report.problem


def test_a_world_readable_key_file_is_refused(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    fill(log, clock, 1)
    os.chmod(where.key_file, 0o644)
    with pytest.raises(ConfigError, match="0600"):
        open_log(engine, where, clock).record(actor="cli:x", action="x")


def test_the_key_can_come_from_the_environment(engine: Engine, where: AuditLocations) -> None:
    key = os.urandom(32)
    env = {ENV_KEY: base64.b64encode(key).decode()}
    log = AuditLog(engine, ManualClock(), locations=where, keys=AuditKeys(where, env))
    entry = log.record(actor="cli:x", action="keys.create")
    assert entry.key_id == audit_key_id(key) and not where.key_file.exists()
    assert log.verify().ok


def test_default_locations_sit_beside_a_sqlite_store(tmp_path: Path) -> None:
    where = audit_locations(f"sqlite:///{tmp_path / 'pb.db'}", None, {})
    assert where.key_file == tmp_path / "pb.db.audit.key"
    assert where.anchor_file == tmp_path / "pb.db.audit-head"
    chosen = AuditSettings(key_file=tmp_path / "k", anchor_file=tmp_path / "a")
    where = audit_locations("postgresql+psycopg://u:pw@h/db", chosen, {})
    assert (where.key_file, where.anchor_file) == (tmp_path / "k", tmp_path / "a")
    one = audit_locations("postgresql+psycopg://u:pw@h/db1", None, {}).anchor_file
    two = audit_locations("postgresql+psycopg://u:pw@h/db2", None, {}).anchor_file
    assert one != two and "pw" not in str(one)


def test_filters_and_order(engine: Engine, where: AuditLocations) -> None:
    clock = ManualClock()
    log = open_log(engine, where, clock)
    start = clock.now()
    fill(log, clock)
    assert [e.seq for e in log.search()] == [5, 4, 3, 2, 1]
    assert [e.seq for e in log.search(action="vault.")] == [5, 3, 1]
    assert [e.seq for e in log.search(actor="key:000000000001")] == [2]
    assert [e.seq for e in log.search(since=start.replace(minute=2), limit=2)] == [5, 4]
    assert [e.seq for e in log.search(until=start.replace(minute=1))] == [1]
    assert log.search(action="keys_create") == []  # "_" is a literal, not a wildcard
    assert log.search(outcome="denied") == []


def test_card_data_in_a_row_is_masked_before_it_is_written(
    engine: Engine, where: AuditLocations
) -> None:
    log = open_log(engine, where)
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


def test_writers_racing_for_the_first_key_share_one(engine: Engine, where: AuditLocations) -> None:
    from concurrent.futures import ThreadPoolExecutor

    logs = [open_log(engine, where) for _ in range(6)]  # as separate processes would be
    with ThreadPoolExecutor(6) as pool:
        entries = list(pool.map(lambda log: log.record(actor="cli:x", action="race"), logs))
    assert len({e.key_id for e in entries}) == 1 and len(where.key_file.read_text().split()) == 1
    assert logs[0].verify().ok and logs[0].verify().rows == 6
    assert not [p for p in where.key_file.parent.iterdir() if p.name.startswith(".")]
