"""The chaos run's closing scan finds a card number wherever PayBridge might have kept one."""

from __future__ import annotations

from pathlib import Path

from paybridge.chaos import PLANTED_CARD, stored_card_numbers


def test_the_scan_finds_a_planted_number_and_ignores_masked_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'paybridge.db'}"
    (tmp_path / "worker.log").write_text(
        "card xxxxxxxxxxxx1111 and 411111******1111\n", encoding="utf-8"
    )
    (tmp_path / "paybridge.db").write_bytes(b"\x00\x01 masked only \x00")
    assert stored_card_numbers(url, tmp_path) == []
    (tmp_path / "paybridge.db-wal").write_bytes(f"\x00order {PLANTED_CARD}\x00".encode())
    (hit,) = stored_card_numbers(url, tmp_path)
    assert PLANTED_CARD in hit
