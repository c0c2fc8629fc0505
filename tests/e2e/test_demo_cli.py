"""End to end through the CLI: `paybridge demo --exit` tells the whole story and its summary holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
REQUIRED = ["payments", "approved", "posted", "duplicates", "missing", "seconds"]


def run_cli(
    *args: str, timeout: float = 240, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    return subprocess.run(
        [str(BIN / "paybridge"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=cwd,
    )


def test_demo_posts_each_expected_line_once(tmp_path: Path) -> None:
    result = run_cli("demo", "--payments", "60", "--exit", "--timeout", "180", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(summary)[: len(REQUIRED)] == REQUIRED  # the contract's keys come first
    assert summary["payments"] == 60
    assert 0 < summary["approved"] < 60  # some amounts decline, as in PayTrace's sandbox
    assert summary["posted"] == summary["approved"]
    assert summary["duplicates"] == 0 and summary["missing"] == 0
    # Every other approved fact (voids, refunds, capture, API charge, subscription) is a line too.
    others = ("voids", "refunds", "captures", "charges", "subscription_charges")
    # So is each of the D365-driven chapters': two captures and a refund of the card order,
    # the sale paid by link, the ACH payment and its return.
    d365_driven = summary["order_captures"] + (summary["order_refund"] == "refunded")
    d365_driven += bool(summary["paylink_paid"]) + 2 * summary["ach_returned"]
    assert d365_driven == 6, summary
    assert summary["expected_lines"] == (
        summary["approved"] + sum(summary[k] for k in others) + d365_driven
    )
    assert summary["reconciliation"] == "matched"
    assert Path(summary["report"]).is_file()
    assert Path(summary["report"]).parent == tmp_path / "paybridge-demo" / "reports"
    assert "Traceback" not in result.stderr
    assert "4012000098765439" not in result.stdout + result.stderr

    # The store stays in ./paybridge-demo/ and the last lines say how to read it.
    tail = result.stderr.strip().splitlines()[-3:]
    assert tail[0].startswith("The demo's store is kept in paybridge-demo/")
    trace_line = tail[1].split()
    assert trace_line[:2] == ["paybridge", "trace"] and trace_line[2].isdigit()
    assert trace_line[3:] == ["--config", "paybridge-demo/paybridge.yaml"]
    assert tail[2].split() == [
        "paybridge",
        "dlq",
        "list",
        "--config",
        "paybridge-demo/paybridge.yaml",
    ]
    traced = run_cli(*trace_line[1:], "--json", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    lineage = json.loads(traced.stdout)
    assert any(step["status"] == "posted" for step in lineage["steps"])
    dead = run_cli("dlq", "list", "--config", "paybridge-demo/paybridge.yaml", cwd=tmp_path)
    assert dead.returncode == 0 and "Dead letters" in dead.stdout


def test_the_demo_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "paybridge-demo"
    mine.mkdir()
    (mine / "notes.txt").write_text("someone's", encoding="utf-8")
    result = run_cli("demo", "--payments", "1", "--exit", cwd=tmp_path)
    assert result.returncode == 2 and "is not a demo folder" in result.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path: Path) -> None:
    result = run_cli("demo", "--payments", "0")
    assert result.returncode == 2
    assert "payments" in result.stderr.lower()
    result = run_cli("trace", "123", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "config" in result.stderr
    config = tmp_path / "paybridge.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'pb.db'}\n", encoding="utf-8")
    result = run_cli("trace", "abc", "--config", str(config))
    assert result.returncode == 2 and "transaction_id" in result.stderr
    result = run_cli("xref", "link", "SHOP-1", "US-001", "--config", str(config))
    assert result.returncode == 2 and "d365_customer" in result.stderr
    assert "Traceback" not in result.stderr


def test_xref_and_trace_round_trip(tmp_path: Path) -> None:
    config = tmp_path / "paybridge.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'pb.db'}\n", encoding="utf-8")
    linked = run_cli("xref", "link", "SHOP-1", "USMF/US-001", "--config", str(config))
    assert linked.returncode == 0, linked.stderr
    listed = run_cli("xref", "list", "--config", str(config))
    assert "SHOP-1 -> usmf/US-001" in listed.stdout
    unknown = run_cli("trace", "123456789", "--config", str(config))
    assert unknown.returncode == 1 and "nothing known" in unknown.stderr
