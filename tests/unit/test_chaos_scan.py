"""The chaos run's closing scan finds a card number wherever PayBridge might have kept one."""

from __future__ import annotations

from pathlib import Path

from paybridge.clock import ManualClock
from paybridge.harness.chaos import PLANTED_CARD, stored_card_numbers
from paybridge.runtime.cursors import Cursors
from paybridge.store import open_engine


def test_the_scan_finds_a_planted_number_and_ignores_masked_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'paybridge.db'}"
    engine = open_engine(url)
    cursors = Cursors(engine, ManualClock())
    with engine.begin() as conn:
        cursors.put(conn, "journal-line:usmf:USMF-000001", "129")  # digits beside a timestamp
        cursors.put(conn, "note", "card xxxxxxxxxxxx1111 and 411111******1111")
    (tmp_path / "worker.log").write_text("request 3c170d10-0793-4145-9419-1b5f7f6f3e08\n")
    assert stored_card_numbers(url, tmp_path) == []
    with engine.begin() as conn:
        cursors.put(conn, "leak", f"order paid with {PLANTED_CARD}")
    hits = stored_card_numbers(url, tmp_path)
    assert hits and all(PLANTED_CARD in hit for hit in hits)
    (tmp_path / "worker.log").write_text(f"oops {PLANTED_CARD}\n")
    assert len(stored_card_numbers(url, tmp_path)) == len(hits) + 1
