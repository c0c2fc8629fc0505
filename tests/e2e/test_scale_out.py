"""Several `paybridge worker` processes on one PostgreSQL: leader-free jobs, and a worker killed mid-batch.

The workers are separate processes, each named by its host and pid, sharing a fresh PostgreSQL
schema; both sandboxes run as processes. Payments are judged in D365 over OData. What the
scheduler claimed is read from the store's own record of it (``schedule_runs``: the job, the
slot and the worker that ran it), which no public API shows; what was leased when a worker died
is read from the queue table the same way.
"""

from __future__ import annotations

import json
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import drop_postgres_schema, postgres_schema_url
from tests.e2e.product import (
    BIN,
    MERCHANT_TZ,
    Process,
    World,
    merchant_today,
    open_world,
    process_env,
    start_process,
    stays,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ACCOUNTS = [f"US-{n:03d}" for n in range(1, 11)]  # seeded D365 customers, matched by the same id


@pytest.fixture
def pg_url() -> Iterator[str]:
    schema, url = postgres_schema_url()
    yield url
    drop_postgres_schema(schema)


def start_workers(world: World, count: int) -> list[Process]:
    assert world.config is not None
    world.cli("db", "upgrade")
    workers = []
    for n in range(count):
        argv = [str(BIN / "paybridge"), "worker", "--config", str(world.config)]
        proc = start_process(f"worker {n + 1}", argv, world.tmp / f"worker-{n + 1}.log",
                             process_env())  # fmt: skip
        world.processes.append(proc)
        workers.append(proc)
    for proc in workers:
        wait_for(f"{proc.name} is ready", lambda p=proc: "worker ready" in p.log.read_text(),
                 timeout=60, watch=workers)  # fmt: skip
    return workers


def name_of(proc: Process) -> str:
    """The name a worker gives itself (host and pid), as it signs its claims."""
    return f"{socket.gethostname()}-{proc.popen.pid}"


def rows(url: str, sql: str, **params: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def sell(world: World, count: int) -> list[str]:
    for account in ACCOUNTS:
        world.paytrace.create_customer(account)
    return [
        world.paytrace.sale_by_customer(
            ACCOUNTS[n % 10], f"{20 + n}.{n % 100:02d}", f"WEB-S{n:04d}"
        )
        for n in range(count)
    ]


def lines_by_reference(world: World) -> Counter[str]:
    found = world.dynamics.query("CustomerPaymentJournalLines")
    return Counter(str(line.get("PaymentReference")) for line in found)


def test_two_workers_share_the_scheduled_jobs_and_run_each_slot_once(
    tmp_path: Path, pg_url: str
) -> None:
    with open_world(tmp_path) as world:
        reports = tmp_path / "reports"
        world.write_settings({
            "store": {"url": pg_url, "auto_upgrade": False},
            "reconcile": {"schedule_at": "00:00", "reports_dir": str(reports),
                          "settlement_journal": False},
            "paytrace": {"poll_interval_seconds": 0.5},
        })  # fmt: skip
        workers = start_workers(world, 2)
        day = (merchant_today(MERCHANT_TZ) - timedelta(days=1)).isoformat()
        report = reports / f"reconcile-usmf-{day}.json"
        wait_for(f"{report.name} written", report.is_file, timeout=60, watch=workers)
        # Long enough for both workers to tick many poll slots.
        polls = wait_for(
            "both workers have run poll slots, four slots in all",
            lambda: rows(
                pg_url,
                "SELECT slot, worker FROM schedule_runs WHERE job = :job",
                job="paytrace.poll",
            ),
            lambda found: (
                {w for _, w in found} == {name_of(p) for p in workers}
                and len({slot for slot, _ in found}) >= 4
            ),
            timeout=90,
            watch=workers,
        )
        morning = rows(pg_url, "SELECT slot, worker, outcome FROM schedule_runs "
                               "WHERE job = 'reconcile.morning'")  # fmt: skip
        logs = "".join(p.log.read_text() for p in workers)
    # The daily job ran once, by one of the two, and finished; no leader: both ran poll slots.
    assert len(morning) == 1, morning
    assert morning[0][1] in {name_of(p) for p in workers}
    assert str(morning[0][2]).startswith("ok"), morning
    assert json.loads(report.read_text(encoding="utf-8"))["day"] == day
    slots = Counter(slot for slot, _ in polls)
    assert max(slots.values()) == 1 and len(slots) >= 4
    assert "Traceback" not in logs


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    # D365 takes 40 ms per operation: a batch of 20 lines keeps a worker busy for seconds.
    with open_world(tmp_path, dynamics_args=["--work-ms-per-operation", "40"]) as world:
        world.write_settings({
            "store": {"url": pg_url, "auto_upgrade": False},
            "worker": {"batch_size": 20, "lease_seconds": 4, "idle_seconds": 0.05},
            "dynamics": {"timeout_seconds": 30},
        })  # fmt: skip
        sales = sell(world, 120)
        victim, survivor = start_workers(world, 2)
        held = wait_for(
            f"{victim.name} holds leased payments",
            lambda: rows(pg_url, "SELECT count(*) FROM queue WHERE status = 'leased' AND "
                                 "topic = 'payment' AND leased_by = :who", who=name_of(victim))[0][0],
            lambda n: n > 0, timeout=90, watch=[victim, survivor],
        )  # fmt: skip
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(timeout=10)
        lines = wait_for(
            "every sale has its D365 line",
            lambda: lines_by_reference(world),
            lambda found: all(found[s] >= 1 for s in sales),
            timeout=180,
            watch=[survivor],
        )
        # Nothing more arrives later (a fenced-off write of the dead worker, a replay).
        stays("no sale gets a second line", lambda: lines_by_reference(world),
              lambda found: all(found[s] == 1 for s in sales), seconds=6, watch=[survivor])  # fmt: skip
        dead = rows(pg_url, "SELECT count(*) FROM queue WHERE status = 'dead'")[0][0]
        left = rows(pg_url, "SELECT count(*) FROM queue WHERE status IN ('ready', 'leased')")[0][0]
    assert held > 0
    assert {s: lines[s] for s in sales if lines[s] != 1} == {}
    assert sum(n for ref, n in lines.items() if ref not in sales) == 0
    assert dead == 0 and left == 0
