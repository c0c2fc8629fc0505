"""The chaos run can fail: builds with a known money-moving bug must make it report a non-zero count.

Each mutant is a copy of ``src/`` with one safety removed, put first on ``PYTHONPATH`` for the
chaos run and every process it starts (``paybridge serve``, ``paybridge worker``). A harness that
reports 0/0/0 for these builds would prove nothing about the real one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[2] / "src"

# A small run on the mild faults: the API phase's scripted after-commit faults are what the
# charge mutants trip on. One worker, no outage, no store loss, no DST.
CHARGES = [
    "--payments", "12", "--kill-every", "2", "--seed", "5", "--faults", "flaky", "--timeout",
    "150", "--workers", "1", "--short-lease", "--outage-seconds", "0", "--store-loss", "none",
    "--no-dst", "--without", "orders",
]  # fmt: skip
# The store restored from an earlier copy mid-run: what D365 got since must not be posted again.
RESTORE = [
    "--payments", "30", "--kill-every", "1.5", "--seed", "5", "--timeout", "200", "--workers",
    "2", "--short-lease", "--outage-seconds", "0", "--store-loss", "restore", "--no-dst",
    "--without", "billing", "--without", "orders",
]  # fmt: skip

# Two workers on the short lease, D365 answering its journal line writes late after the commit
# (the look-ups' reads on time): workers are frozen while such a write is in flight, the other
# takes their messages over and finds the lines, and the frozen one wakes in time to read D365's
# answer (the client timeout well above the lease). Kills are rare here: a worker killed
# mid-write never reads that answer, and only a frozen one shows whether fencing holds.
FENCING = [
    "--payments", "30", "--kill-every", "20", "--seed", "5", "--faults", "flaky", "--timeout",
    "400", "--workers", "2", "--short-lease", "--outage-seconds", "0", "--store-loss", "none",
    "--no-dst", "--client-timeout", "15", "--without", "billing", "--without", "orders",
]  # fmt: skip
NO_FENCING = [
    # Intent transitions and queue outcomes compare nothing: a worker that lost its lease still
    # records (and acknowledges) what another worker did.
    ("paybridge/runtime/intents.py",
     "                intents.c.status == intent.status,\n"
     "                intents.c.attempts == intent.attempts,\n", ""),
    # The queue fences a batch in one statement on PostgreSQL, per claim number on SQLite.
    ("paybridge/runtime/queue.py", "                    queue.c.attempts == fence.c.attempts,\n",
     ""),
    ("paybridge/runtime/queue.py", "                        queue.c.attempts == claim,\n", ""),
]  # fmt: skip

# name -> ([(file under src/, the code that keeps money safe, its broken version)], chaos args)
MUTANTS: dict[str, tuple[list[tuple[str, str, str]], list[str]]] = {
    # A PayTrace sale answered by a 5xx is resent at once instead of looked up.
    "blind-resend-after-5xx": (
        [("paybridge/connectors/paytrace/outcome.py",
          "    safe = _safe_body(response)\n    if endpoint.repeatable:\n",
          "    safe = _safe_body(response)\n    if True:\n")],
        CHARGES,
    ),
    # The look-up of a charge whose answer was lost never finds it: after the grace it is taken
    # as absent and charged again.
    "lookup-finds-nothing": (
        [("paybridge/charging/charge_once.py",
          "        mine = [r for r in records if carries(r, reference)]\n",
          "        mine = [r for r in records if carries(r, reference) and False]\n")],
        CHARGES,
    ),
    # Journal lines are looked up in D365 only after an unknown outcome, not before every send
    # (the store, not D365, says what was written).
    "no-pre-write-check": (
        [("paybridge/o2c/journals.py",
          "        looked = await self.look_up([j for j in jobs if j.intent.status != DONE])\n",
          "        looked = await self.look_up(\n"
          "            [j for j in jobs if j.intent.status not in (DONE, PLANNED)]\n        )\n")],
        RESTORE,
    ),
    # Intent transitions and queue outcomes compare nothing: a worker that lost its lease still
    # records (and acknowledges) what another worker did (the lineage shows the line twice).
    "no-fencing": (NO_FENCING, FENCING),
}  # fmt: skip


def mutant_tree(root: Path, name: str) -> Path:
    edits, _ = MUTANTS[name]
    tree = root / name / "src"
    shutil.copytree(SRC, tree, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for relative, good, bad in edits:
        target = tree / relative
        text = target.read_text(encoding="utf-8")
        assert text.count(good) == 1, f"{name}: the guarded code moved; update the mutant"
        target.write_text(text.replace(good, bad), encoding="utf-8")
    return tree


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def report(self, timeout: float) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            tail = self.err.read_text(errors="replace")[-2000:]
            pytest.fail(f"the chaos run did not end in {timeout} s; it said:\n{tail}")
        lines = self.out.read_text().strip().splitlines()
        assert lines, f"no report: {self.err.read_text(errors='replace')[-2000:]}"
        return dict(json.loads(lines[-1]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every mutant's chaos run, started at once: they wait on faults and sandboxes far more
    than they compute, so side by side they take about as long as the longest alone. Each is
    the leader of its own process group, so a run given up on takes its workers and sandboxes
    with it; what it says goes to files (a pipe nobody reads yet would stop it)."""
    root = tmp_path_factory.mktemp("mutants")
    started = {}
    for name, (_, args) in MUTANTS.items():
        env = {**os.environ, "PYTHONPATH": str(mutant_tree(root, name))}
        out, err = root / f"{name}.out", root / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [str(BIN / "paybridge"), "chaos", *args], stdin=subprocess.DEVNULL,
                stdout=stdout, stderr=stderr, env=env, cwd=root, start_new_session=True,
            )  # fmt: skip
        started[name] = Run(proc, out, err)
    yield started
    for run in started.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGKILL)
        run.proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_chaos_run_catches_a_known_bad_build(runs: dict[str, Run], name: str) -> None:
    report = runs[name].report(timeout=900)
    bad = sum(report[k] for k in ("lost", "duplicated", "double_charges", "lineage_doubled"))
    tail = runs[name].err.read_text(errors="replace")[-2000:]
    assert bad > 0, f"the chaos run did not notice mutant {name}: {report}\n{tail}"
    assert runs[name].proc.returncode != 0  # and says so with its exit code


# The same safeties against the scenario tests that stage exactly the moment a chaos run must
# wait for (a worker frozen past its lease mid-write, another taking its batch over; a store
# restored): each must fail on the mutant build. Same trees, same edits.
SCENARIO_MUTANTS: dict[str, tuple[list[tuple[str, str, str]], str]] = {
    # Intent transitions and queue outcomes compare nothing: a worker that lost its lease still
    # records (and acknowledges) what another worker did.
    "no-fencing": (
        NO_FENCING,
        "tests/integration/o2c/test_money_safety.py::"
        "test_a_worker_whose_lease_ran_out_mid_batch_changes_nothing",
    ),
    "no-pre-write-check": (
        MUTANTS["no-pre-write-check"][0],
        "tests/integration/o2c/test_money_safety.py::"
        "test_a_fresh_or_restored_store_posts_nothing_d365_already_holds",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCENARIO_MUTANTS))
def test_the_scenario_test_fails_on_a_known_bad_build(tmp_path: Path, name: str) -> None:
    edits, test = SCENARIO_MUTANTS[name]
    tree = tmp_path / "src"
    shutil.copytree(SRC, tree, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for relative, good, bad in edits:
        target = tree / relative
        text = target.read_text(encoding="utf-8")
        assert text.count(good) == 1, f"{name}: the guarded code moved; update the mutant"
        target.write_text(text.replace(good, bad), encoding="utf-8")
    root = SRC.parent
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{root}"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        capture_output=True, text=True, timeout=300, check=False, env=env, cwd=root,
    )  # fmt: skip
    assert result.returncode == 1, f"{test} passed on mutant {name}:\n{result.stdout[-2000:]}"
    assert f"FAILED {test}" in result.stdout  # failed, not an import or collection error
