"""The chaos run through the CLI, on both stores: faults + SIGKILLed workers, nothing lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_postgres_schema, postgres_schema_url

BIN = Path(sys.executable).parent


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_option(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    if request.param == "sqlite":
        yield []
        return
    schema, url = postgres_schema_url()
    yield ["--store-url", url]
    drop_postgres_schema(schema)


def test_chaos_run_loses_and_doubles_nothing(store_option: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / "paybridge"), "chaos", "--payments", "120", "--kill-every", "1.5",
         "--seed", "5", "--timeout", "240", *store_option],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["payments"] == 120
    assert (report["lost"], report["duplicated"], report["double_charges"]) == (0, 0, 0), report
    assert report["kills"] >= 3
    assert report["faults"] > 0
    assert "card numbers kept" not in result.stderr  # planted in order texts, kept nowhere
    assert result.returncode == 0
