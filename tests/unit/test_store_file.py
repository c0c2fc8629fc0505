"""The SQLite store and its WAL are readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from paybridge.store import open_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_is_the_owners_alone(tmp_path: Path) -> None:
    db = tmp_path / "var" / "paybridge.db"
    engine = open_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert mode(db) == 0o600
    wal = db.with_name("paybridge.db-wal")
    assert wal.exists() and mode(wal) == 0o600
    assert mode(db.parent) == 0o700
    engine.dispose()


def test_an_existing_world_readable_store_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    open_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600
