"""The benchmark's hand-written function and the compiled template agree record for record."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "mapping.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mapping", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_outputs_match_and_it_reports_both_rates(capsys: object) -> None:
    bench = load_bench()
    assert bench.main(["--records", "400", "--repeat", "1"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "hand-written function:" in out
    assert "compiled template:" in out
    assert "ratio template/hand:" in out


def test_bench_detects_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load_bench()
    original = bench.hand_written
    monkeypatch.setattr(
        bench, "hand_written", lambda tx, ctx: {**original(tx, ctx), "PaymentId": "x"}
    )
    assert bench.main(["--records", "10", "--repeat", "1"]) == 1
