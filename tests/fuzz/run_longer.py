"""The fuzzing campaign at length, by hand: ``python tests/fuzz/run_longer.py [EXAMPLES] [pytest args]``.

CI runs tests/fuzz at a bounded size (``PAYBRIDGE_FUZZ_EXAMPLES`` defaults to 15 per operation
and role for schemathesis, ten times that for the property tests, derandomized). This runs the same
tests with more examples (default 500), a fresh random seed each run, and Hypothesis's statistics,
so that the case counts can be quoted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    examples = argv[0] if argv and argv[0].isdigit() else "500"
    extra = argv[1:] if argv and argv[0].isdigit() else argv
    env = {**os.environ, "PAYBRIDGE_FUZZ_EXAMPLES": examples, "PAYBRIDGE_FUZZ_RANDOM": "1"}
    command = [
        sys.executable, "-m", "pytest", "tests/fuzz", "tests/unit/security/test_cardguard.py",
        "--hypothesis-show-statistics", "-p", "no:cacheprovider", *extra,
    ]  # fmt: skip
    print(f"fuzz: {examples} examples per test, random seed", flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
