"""The walking skeleton in-process: PayTrace sandbox -> poller -> queue -> D365 sandbox, exactly once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from paybridge.app.engine import Engine
from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import CustomerSaleRequest
from paybridge.errors import DeclinedError
from paybridge.o2c.ingest import PayTraceIngest
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import (
    open_profile,
    open_sandboxes,
    sandbox_engine,
    sandbox_http,
    sandbox_settings,
)

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@dataclass
class World:
    engine: Engine
    clock: ManualClock
    d365_app: Any


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_sandboxes(tmp_path, START) as box:
        yield World(box.engine, box.clock, box.d365_app)


async def sell(engine: Engine, profile: str, amount: str, invoice: str = "") -> str | None:
    try:
        response = await engine.paytrace.sale_by_customer(
            CustomerSaleRequest(
                customer_id=profile, amount=Decimal(amount), invoice_id=invoice or None
            )
        )
    except DeclinedError:
        return None
    return str(response.transaction_id)


async def drain(engine: Engine) -> None:
    await engine.ingest.poll_once()
    while await engine.worker.run_once():
        pass


async def lines_by_reference(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    rows = await engine.dynamics.query("CustomerPaymentJournalLines", None)
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row["PaymentReference"]), []).append(row)
    return out


@pytest.mark.anyio
async def test_approved_sales_become_one_credit_line_each(world: World) -> None:
    engine = world.engine
    await open_profile(engine, "SHOP-1", "US-001")
    await open_profile(engine, "SHOP-2", "US-002")
    approved = [
        await sell(engine, "SHOP-1", "125.40"),
        await sell(engine, "SHOP-2", "10.00"),
        await sell(engine, "SHOP-1", "99.99"),
    ]
    declined = await sell(engine, "SHOP-2", "0.29")
    assert declined is None and all(approved)

    await drain(engine)
    await drain(engine)  # a second poll re-reads the overlap window: nothing new may appear

    lines = await lines_by_reference(engine)
    assert sorted(lines) == sorted(str(t) for t in approved)
    assert all(len(rows) == 1 for rows in lines.values())
    first = lines[str(approved[0])][0]
    assert Decimal(str(first["CreditAmount"])) == Decimal("125.40")
    assert Decimal(str(first["DebitAmount"])) == 0
    assert (
        first["AccountType"] == "Cust"
        and first["AccountDisplayValue"].replace("\\", "") == "US-001"
    )
    assert first["OffsetAccountType"] == "Bank"
    assert first["PaymentId"] == f"PT-{approved[0]}-sale"
    assert first["TransactionDate"] == "2026-03-10T12:00:00Z"
    assert len({rows[0]["JournalBatchNumber"] for rows in lines.values()}) == 1  # one journal a day
    stats = engine.store.queue.stats()
    assert stats.dead == 0 and stats.ready == 0


@pytest.mark.anyio
async def test_a_customer_without_a_d365_account_is_a_dead_letter_with_a_reason(
    world: World,
) -> None:
    engine = world.engine
    await open_profile(engine, "NOBODY-7", None)
    tx = await sell(engine, "NOBODY-7", "20.00")
    await drain(engine)
    assert str(tx) not in await lines_by_reference(engine)
    (letter,) = engine.store.queue.dead_letters()
    assert "NOBODY-7" in str(letter["dead_reason"]) and "xref link" in str(letter["dead_reason"])


@pytest.mark.anyio
async def test_same_id_customers_wait_for_a_link_by_default(world: World) -> None:
    """Issue 13, 11: a D365 account that merely shares the PayTrace customer id is not credited
    unless ``dynamics.customer_match: xref_or_same_id`` says the ids were made to match."""
    engine = world.engine
    await open_profile(engine, "US-003", None)  # a PayTrace profile named like the D365 account
    tx = await sell(engine, "US-003", "42.00")
    await drain(engine)
    assert str(tx) not in await lines_by_reference(engine)
    (letter,) = engine.store.queue.dead_letters()
    assert "xref link US-003" in str(letter["dead_reason"])


@pytest.mark.anyio
async def test_same_id_customers_are_matched_and_remembered_when_asked(tmp_path: Path) -> None:
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    settings = sandbox_settings(tmp_path)
    same_id = settings.dynamics.model_copy(update={"customer_match": "xref_or_same_id"})
    settings = settings.model_copy(update={"dynamics": same_id})
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(
            settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
        )
        await open_profile(engine, "US-003", None)
        tx = await sell(engine, "US-003", "42.00")
        await drain(engine)
        assert len((await lines_by_reference(engine))[str(tx)]) == 1
        assert engine.store.xref.get("paytrace_customer", "US-003") == "usmf/US-003"


@pytest.mark.anyio
async def test_lineage_links_the_fact_to_the_d365_line(world: World) -> None:
    engine = world.engine
    await open_profile(engine, "SHOP-9", "US-001")
    tx = await sell(engine, "SHOP-9", "15.00")
    await drain(engine)
    (step,) = engine.store.ledger.entries(f"paytrace:{tx}:")
    assert step.entity == "CustomerPaymentJournalLines" and step.status == "posted"
    assert step.entity_id.startswith("usmf/")
    seen = engine.store.ledger.sightings(f"paytrace:{tx}:")
    assert Counter(row["source"] for row in seen) == {"poller": 1}


@pytest.mark.anyio
async def test_a_posted_event_re_mapped_with_a_newer_version_shows_the_difference(
    world: World, tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    from paybridge.mapping import SHIPPED_DIR

    engine = world.engine
    await open_profile(engine, "SHOP-4", "US-001")
    tx = await sell(engine, "SHOP-4", "30.00")
    await drain(engine)
    (step,) = engine.store.ledger.entries(f"paytrace:{tx}:")
    assert step.template_version == "payment_to_customer_payment_line@1"

    folder = tmp_path / "templates"
    shutil.copytree(SHIPPED_DIR, folder)
    v1 = (folder / "payment_to_customer_payment_line.yaml").read_text(encoding="utf-8")
    v2 = v1.replace("version: 1", "version: 2").replace(
        "TransactionText: join_nonempty(' ', 'PayTrace',",
        "TransactionText: join_nonempty(' ', 'Card payment',",
    )
    (folder / "payment_to_customer_payment_line_v2.yaml").write_text(v2, encoding="utf-8")
    config = tmp_path / "paybridge.yaml"
    config.write_text(
        f"store:\n  url: {engine.settings.store.url}\nmapping:\n  templates_dir: {folder}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "paybridge"), "mapping", "dry-run", str(tx),
         "--template", "payment_to_customer_payment_line@2", "--config", str(config)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "TransactionText" in result.stdout
    assert "Card payment" in result.stdout
    assert "CreditAmount" not in result.stdout  # only what differs is shown


def cli(config: Path, *args: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [str(Path(sys.executable).parent / "paybridge"), *args, "--config", str(config)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.anyio
async def test_fix_then_replay_a_dead_letter_and_trace_the_payment(
    world: World, tmp_path: Path
) -> None:
    engine = world.engine
    config = tmp_path / "cli.yaml"
    config.write_text(f"store:\n  url: {engine.settings.store.url}\n", encoding="utf-8")
    await open_profile(engine, "WALKIN-1", None)
    tx = await sell(engine, "WALKIN-1", "64.10")
    await drain(engine)

    listed = cli(config, "dlq", "list", "--match", "WALKIN-1")
    assert listed.returncode == 0 and "WALKIN-1" in listed.stdout
    (letter,) = engine.store.queue.dead_letters()
    shown = cli(config, "dlq", "show", str(letter["id"]))
    assert shown.returncode == 0
    detail = json.loads(shown.stdout)
    assert detail["payload"]["transaction_id"] == tx and "xref link" in detail["dead_reason"]

    assert cli(config, "xref", "link", "WALKIN-1", "usmf/US-005").returncode == 0
    replayed = cli(config, "dlq", "replay", "--all", "--match", "WALKIN-1")
    assert replayed.returncode == 0 and "replaying 1" in replayed.stdout
    # The CLI ran on the real clock; bring the engine's test clock up to it.
    world.clock.advance((datetime.now(UTC) - world.clock.now()).total_seconds() + 1)
    while await engine.worker.run_once():
        pass
    (line,) = (await lines_by_reference(engine))[str(tx)]
    assert line["AccountDisplayValue"].replace("\\", "") == "US-005"

    traced = cli(config, "trace", str(tx), "--json")
    assert traced.returncode == 0, traced.stderr
    lineage = json.loads(traced.stdout)
    assert [s["status"] for s in lineage["steps"]] == ["posted"]
    assert lineage["seen"][0]["source"] == "poller"
    assert cli(config, "dlq", "purge", "999").returncode == 2
    # Issue 14 item 6: each of these changes, and the refused purge, is an audit row.
    listed = cli(config, "audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in reversed(listed.stdout.splitlines())]
    assert [(r["action"], r["target"], r["outcome"]) for r in rows] == [
        ("xref.link", "paytrace_customer:WALKIN-1", "ok"),
        ("dlq.replay", "dlq:all", "ok"),
        ("dlq.purge", "dlq:999", "not_found"),
    ]
    assert rows[0]["detail"] == {"d365": "usmf/US-005", "previous": None}
    assert rows[1]["detail"]["ids"] == [letter["id"]] and rows[1]["detail"]["match"] == "WALKIN-1"
    assert all(r["actor"].startswith("cli:") and r["client"] == "local" for r in rows)


@pytest.mark.anyio
async def test_a_changeset_reported_unanswered_is_looked_up_not_resent(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paybridge.connectors.dynamics import ChangesetResult
    from paybridge.errors import RetryableError

    engine = world.engine
    await open_profile(engine, "SHOP-U", "US-001")
    tx = await sell(engine, "SHOP-U", "41.00")
    real_batch = engine.dynamics.batch
    calls = 0

    async def committed_but_unanswered(changesets: Any) -> list[ChangesetResult]:
        nonlocal calls
        calls += 1
        results = await real_batch(changesets)  # D365 wrote the line...
        if calls > 1:
            return results
        unanswered = RetryableError("changeset not answered", system="d365")
        return [ChangesetResult(ok=False, results=[], error=unanswered) for _ in results]

    monkeypatch.setattr(engine.dynamics, "batch", committed_but_unanswered)
    await drain(engine)  # ...but said it did not answer: the line must not be sent again
    world.clock.advance(600)
    while await engine.worker.run_once():
        pass
    assert len((await lines_by_reference(engine))[str(tx)]) == 1
    (step,) = engine.store.ledger.entries(f"paytrace:{tx}:")
    assert step.status == "posted"


@pytest.mark.anyio
async def test_a_poll_reads_the_cursor_another_worker_stored_not_its_own_last(world: World) -> None:
    # Each ingest keeps the cursor it stored, to spare parsing it again; a rival worker's
    # poll in between must win, or this one would meet the rival's sales as new again.
    engine = world.engine
    mine = engine.ingest
    rival = PayTraceIngest(mine.poller, mine.queue, mine.cursors, mine.engine, mine.translator)
    await open_profile(engine, "SHOP-1", "US-001")
    assert await sell(engine, "SHOP-1", "12.00")
    assert (await mine.poll_once()).new == 1
    world.clock.advance(5)
    assert await sell(engine, "SHOP-1", "13.00")
    assert (await rival.poll_once()).new == 1
    world.clock.advance(5)
    again = await mine.poll_once()
    assert (again.seen, again.new) == (0, 0)
    world.clock.advance(5)
    assert await sell(engine, "SHOP-1", "14.00")
    latest = await mine.poll_once()  # its own cursor again: still exact
    assert (latest.seen, latest.new) == (1, 1)
