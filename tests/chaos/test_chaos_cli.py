"""The chaos run through the CLI, on both stores: faults + SIGKILLed workers, nothing lost or doubled.

Sized for CI (30 to 60 s a store): two worker processes with four loops each and the short
lease, the ``storm`` faults (answers held past the clients' 5 s timeout included), declines,
authorizations with full and partial captures, voids of sales, refunds, the journal cut-off, the
DST fall-back night. Left out because today's product fails them (issue 13); enable each once
its fix lands:

* adjusts (``--without adjust``): the adjusted amount never reaches D365;
* refund voids (``--without void_refund``): a voided refund stays debited;
* capture voids (``--without void_capture``): a capture fact taken in after its void is
  credited and never reversed;
* the D365 outage with ``dlq replay`` (``--outage-seconds 0``): a voided sale whose sale was
  dead-lettered stays credited after the replay;
* ``reconcile --heal`` before ``dlq replay`` (``--without heal``): both post the sale;
* the store restored or deleted mid-run (``--store-loss none``): D365's lines are posted again;
* the product's default lease (``--short-lease``): passes, but waits out 120 s leases after kills.

``paybridge chaos --payments 300`` runs all of it.
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
    result = subprocess.run(
        [str(BIN / "paybridge"), "chaos", "--payments", "30", "--kill-every", "1.5",
         "--seed", "5", "--timeout", "240", "--workers", "2", "--short-lease",
         "--outage-seconds", "0", "--store-loss", "none", "--without", "adjust",
         "--without", "void_refund", "--without", "void_capture", "--without", "heal",
         *store_option],
        capture_output=True, text=True, timeout=300, check=False,
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
    assert report["ok"] is True and result.returncode == 0
