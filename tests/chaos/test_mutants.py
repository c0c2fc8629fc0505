"""The chaos run can fail: builds with a known money-moving bug must make it report a non-zero count.

Each mutant is a copy of ``src/`` with one safety removed, put first on ``PYTHONPATH`` for the
chaos run and every process it starts (``paybridge serve``, ``paybridge worker``). A harness that
reports 0/0/0 for these builds would prove nothing about the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[2] / "src"

# name -> (file under src/, the code that keeps money safe, its broken version)
MUTANTS = {
    # A PayTrace sale answered by a 5xx is resent at once instead of looked up.
    "blind-resend-after-5xx": (
        "paybridge/connectors/paytrace/outcome.py",
        "    safe = _safe_body(response)\n    if endpoint.repeatable:\n",
        "    safe = _safe_body(response)\n    if True:\n",
    ),
    # The look-up of a charge whose answer was lost never finds it: after the grace it is taken
    # as absent and charged again.
    "lookup-finds-nothing": (
        "paybridge/charging/charge_once.py",
        "        mine = [r for r in records if carries(r, reference)]\n",
        "        mine = [r for r in records if carries(r, reference) and False]\n",
    ),
}


def mutant_tree(tmp_path: Path, name: str) -> Path:
    relative, good, bad = MUTANTS[name]
    tree = tmp_path / "src"
    shutil.copytree(SRC, tree, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = tree / relative
    text = target.read_text(encoding="utf-8")
    assert text.count(good) == 1, f"{name}: the guarded code moved; update the mutant"
    target.write_text(text.replace(good, bad), encoding="utf-8")
    return tree


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_chaos_run_catches_a_known_bad_build(tmp_path: Path, name: str) -> None:
    tree = mutant_tree(tmp_path, name)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        # Small and on the mild fault profile: the scripted after-commit faults of the API
        # phase are what these mutants trip on. One worker, no outage, no store loss, no DST.
        [str(BIN / "paybridge"), "chaos", "--payments", "12", "--kill-every", "2",
         "--seed", "5", "--faults", "flaky", "--timeout", "150", "--workers", "1",
         "--short-lease", "--outage-seconds", "0", "--store-loss", "none", "--no-dst"],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    report = json.loads(result.stdout.strip().splitlines()[-1])
    bad = report["lost"] + report["duplicated"] + report["double_charges"]
    assert bad > 0, f"the chaos run did not notice mutant {name}: {report}"
    assert result.returncode != 0  # and says so with its exit code
