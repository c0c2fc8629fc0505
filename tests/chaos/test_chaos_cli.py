"""The chaos run through the CLI, on both stores: nothing lost or doubled, whatever fails.

Sized for CI (about a minute a store, both run side by side): two worker processes with four
loops each and the short lease (workers killed, and some frozen past their lease and woken),
the ``storm`` faults (answers held past the clients' 5 s timeout included), declines,
authorizations with full and partial captures, adjusts, voids of sales, captures and refunds,
the journal cut-off, the DST fall-back night, a D365 outage that dead-letters payments followed
by ``reconcile --heal`` and ``dlq replay``, and the store restored from an earlier copy mid-run
(SQLite; on PostgreSQL the store is kept). ``paybridge chaos --payments 2000`` runs it at size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_postgres_schema, postgres_schema_url

BIN = Path(sys.executable).parent
MONEY = (
    "lost", "duplicated", "double_charges", "wrong_account", "wrong_currency", "wrong_amount",
    "wrong_sign",
)  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_option(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    if request.param == "sqlite":
        yield []
        return
    schema, url = postgres_schema_url()
    yield ["--store-url", url]
    drop_postgres_schema(schema)


def test_chaos_run_loses_and_doubles_nothing(store_option: list[str]) -> None:
    loss = "none" if store_option else "restore"
    result = subprocess.run(
        [str(BIN / "paybridge"), "chaos", "--payments", "30", "--kill-every", "1.5",
         "--seed", "5", "--timeout", "300", "--workers", "2", "--short-lease",
         "--outage-seconds", "20", "--store-loss", loss, *store_option],
        capture_output=True, text=True, timeout=420, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["payments"] == 30
    assert {k: report[k] for k in MONEY} == dict.fromkeys(MONEY, 0), result.stderr[-2000:]
    assert report["workers"] == 2
    assert report["kills"] >= 3
    assert report["faults"] > 0 and sum(report["faults_by_kind"].values()) == report["faults"]
    detail = json.loads(
        next(line for line in result.stderr.splitlines() if line.startswith('{"store_loss"'))
    )
    assert detail["sales_in_repeated_hour"] > 0  # sold in the hour the clocks go back
    assert detail["storefront"]["sale_declined"] + detail["storefront"]["authorization_declined"]
    assert detail["storefront"]["capture_partial"] > 0
    assert "card numbers kept" not in result.stderr  # planted in order texts, kept nowhere
    assert report["lineage_doubled"] == 0 and report["lineage_missing"] == 0
    assert detail["dead_letters"] > 0 and detail["dead_letters_left"] == 0  # the outage's
    assert report["dead_letters_replayed"] > 0
    for did in ("adjust", "void_refund", "void_capture", "void_sale", "refund"):
        assert detail["storefront"].get(did, 0) + detail["storefront"].get(f"{did}_partial", 0)
    assert report["ok"] is True and result.returncode == 0
