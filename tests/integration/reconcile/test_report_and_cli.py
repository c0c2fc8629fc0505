"""The report of a day with every class, in every format, and the CLI's exit codes and output."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from openpyxl import load_workbook
from typer.testing import CliRunner

from paybridge.app.engine import Engine
from paybridge.app.settings import Settings
from paybridge.cli import reconcile as cli_module
from paybridge.clock import SystemClock
from paybridge.reconcile import MatchClass
from paybridge.reconcile.render import render, render_csv_files
from tests.conftest import asgi_client
from tests.integration.reconcile.conftest import (
    D365,
    DAY,
    PT,
    World,
    build_day,
    open_profile,
    open_world,
    world_engine,
)


@pytest.mark.anyio
async def test_every_format_carries_both_sides_and_the_action(world: World) -> None:
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf", heal=True)
    c3 = world.tx["C3"]

    page = render(report, "html").decode()
    assert "Amount, currency or sign mismatch" in page and c3 in page
    assert "40.00 USD" in page and "39.00 USD" in page  # PayTrace side and D365 side
    assert "03/10/2026" in page  # USMF's date format, not ISO
    assert "Post journal" in page and "Re-post it with --heal" in page

    files = render_csv_files(report)
    assert list(files)[:3] == ["summary.csv", "batches.csv", "exceptions.csv"]
    rows = list(csv.reader(io.StringIO(files["exceptions.csv"].decode("utf-8-sig"))))
    mismatch = next(r for r in rows if c3 in r)
    assert "40.00 USD" in mismatch and "39.00 USD" in mismatch
    assert any("Correct" in cell for cell in mismatch)
    assert {len(r) for r in rows} == {len(rows[0])}  # one table: every row as wide as its header

    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    assert book.sheetnames == [
        "Summary", "Summary by class", "Batches", "Exceptions", "Heal",
        "Settlement journals", "Not judged on this day",
    ]  # fmt: skip
    sheet = book["Exceptions"]
    header = [c.value for c in sheet[1]]
    xl_row = next(r for r in sheet.iter_rows(min_row=2) if r[1].value == c3)
    amount = xl_row[header.index("PayTrace amount")]
    assert Decimal(str(amount.value)) == Decimal("40") and '"USD"' in amount.number_format
    assert Decimal(str(xl_row[header.index("D365 credit")].value)) == Decimal("39")
    # The same rows in every format: HTML body rows, XLSX rows inside the filter, CSV data rows.
    html_rows = (
        page.count("<tr>") - page.count("<thead><tr>") - page.count("<tfoot><tr>")
    ) - page.count(">None.</td>")
    filtered = [book[n].auto_filter.ref.split(":")[1] for n in book.sheetnames[1:]]
    xlsx_rows = sum(int("".join(ch for ch in ref if ch.isdigit())) - 1 for ref in filtered)
    csv_rows = sum(
        len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) - 1
        for name, data in files.items()
        if name != "summary.csv"
    )
    classes = len(MatchClass)  # in summary.csv, beside the run's facts
    assert html_rows == xlsx_rows == csv_rows + classes
    # Every exception row (one per D365 line of a duplicate) and batch folds its other fields.
    exception_rows = sum(max(1, len(e.d365)) for e in report.exceptions)
    assert page.count('<tr class="fold">') == exception_rows + len(report.batches)
    assert " PDT</time>" in page  # every time names its zone

    machine = json.loads(render(report, "json"))
    assert machine["counts"]["amount_mismatch"] == 1 and machine["all_matched"] is False
    (entry,) = [e for e in machine["exceptions"] if e["transaction_id"] == c3]
    assert entry["paytrace"]["amount"] == {"amount": "40.00", "currency": "USD"}
    assert entry["d365"][0]["credit"] == {"amount": "39.00", "currency": "USD"}
    assert machine["batches"][0]["difference"] == {"amount": "6.00", "currency": "USD"}
    assert {a["transaction_id"] for a in machine["heal"]["actions"]} == {
        world.tx["C2"],
        world.tx["X"],
    }


@pytest.mark.anyio
async def test_a_clean_day_says_so(world: World) -> None:
    await open_profile(world, "SHOP-1", "4012000098765439", "US-001")
    await world.sell("A", "SHOP-1", "10.00")
    await world.drain()
    (line,) = await world.lines_of("A")
    await world.post_journal(line["JournalBatchNumber"])
    await world.engine.paytrace.settle()
    day = world.clock.now().astimezone(ZoneInfo("America/Los_Angeles")).date()
    report = await world.reconciler.run(day, "usmf")
    assert report.exit_code == 0 and report.exceptions == ()
    assert "All matched" in render(report, "html").decode()


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> tuple[World, Path]:
    """A built day whose sandboxes and store outlive the event loop that built them."""
    holder: dict[str, World] = {}

    async def prepare() -> None:
        async with open_world(tmp_path) as world:
            await build_day(world)
            holder["world"] = world

    asyncio.run(prepare())
    config = tmp_path / "paybridge.yaml"
    config.write_text(
        "reconcile:\n"
        "  companies:\n"
        "    usmf:\n"
        "      clearing_account: '110180'\n"
        "      brands: {mastercard: {clearing_account: '110190'}}\n",
        encoding="utf-8",
    )
    return holder["world"], config


def _cli(monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path) -> typer.Typer:
    def engine_over_sandboxes(settings: Settings, *, clock: SystemClock) -> Engine:
        pt_http, d_http = asgi_client(world.pt_app, PT), asgi_client(world.d365_app, D365)
        engine = world_engine(tmp_path, world.clock, pt_http, d_http, world.d365_app)
        engine.owned_clients += [pt_http, d_http]
        return engine

    monkeypatch.setattr(cli_module, "build_engine", engine_over_sandboxes)
    app = typer.Typer()
    app.command()(cli_module.reconcile)
    return app


@pytest.mark.parametrize("fmt", ["html", "csv", "xlsx", "json"])
def test_the_command_writes_the_report_and_exits_1_on_differences(
    fmt: str, built: tuple[World, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world, config = built
    app = _cli(monkeypatch, world, tmp_path)
    out = tmp_path / f"report.{fmt}"
    args = ["--date", "2026-03-10", "--company", "usmf", "--format", fmt, "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 1, result.output
    if fmt == "csv":  # a folder, one table per file
        assert {"summary.csv", "batches.csv", "exceptions.csv"} <= {p.name for p in out.iterdir()}
        out = out / "exceptions.csv"
    data = out.read_bytes()
    assert data, "an empty report"
    if fmt == "json":
        assert json.loads(data)["counts"]["duplicated_in_d365"] == 1
    elif fmt == "xlsx":
        assert load_workbook(io.BytesIO(data))["Exceptions"].max_row > 8
    else:
        assert world.tx["C4"].encode() in data
    assert "matched" in result.stderr


def test_the_command_heals_and_says_so(
    built: tuple[World, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world, config = built
    app = _cli(monkeypatch, world, tmp_path)
    args = ["--date", "2026-03-10", "--heal", "--format", "json", "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    payload: dict[str, Any] = json.loads(result.stdout)
    assert payload["heal"]["requested"] is True and len(payload["heal"]["actions"]) == 2
    assert "2 healed" in result.stderr


def test_a_heal_is_an_audit_row_a_plain_run_is_not(
    built: tuple[World, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 14 item 6: `reconcile --heal` re-drives payments into D365 and left no audit row."""
    from paybridge.cli.common import audit_log
    from paybridge.store import open_engine
    from tests.integration.reconcile.conftest import sandbox_settings

    world, config = built
    app = _cli(monkeypatch, world, tmp_path)
    day = ["--date", "2026-03-10", "--format", "json", "--config", str(config)]
    assert CliRunner().invoke(app, day).exit_code == 1
    assert CliRunner().invoke(app, [*day, "--heal"]).exit_code == 1
    settings = sandbox_settings(tmp_path)  # the store the CLI's engine was built on
    log = audit_log(settings, open_engine(settings.store.url))
    (row,) = log.search(action="reconcile.")
    assert row.action == "reconcile.heal" and row.target == "reconcile:usmf:2026-03-10"
    assert row.actor.startswith("cli:") and row.outcome == "differences"
    detail = json.loads(row.detail)
    assert len(detail["healed"]) == 2 and detail["run_id"]
    assert log.verify().ok


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "10/03/2026"], "not a date"),
        (["--date", "2026-03-10", "--company", "nowhere"], "no entry for company"),
        (["--date", "2026-03-10", "--format", "pdf"], "--format must be one of"),
    ],
)
def test_errors_exit_2_with_one_line(
    args: list[str],
    message: str,
    built: tuple[World, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    world, config = built
    app = _cli(monkeypatch, world, tmp_path)
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_the_command_reports_and_writes_a_journal_only_with_journal(
    built: tuple[World, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 15 item 7: a plain run is a report; --journal writes (and audits) the journals."""
    from paybridge.cli.common import audit_log
    from paybridge.store import open_engine
    from tests.integration.reconcile.conftest import sandbox_settings

    world, config = built
    app = _cli(monkeypatch, world, tmp_path)
    day = ["--date", "2026-03-10", "--format", "json", "--config", str(config)]

    def headers() -> list[str]:
        rows = world.d365_app.sandbox.store.tables["LedgerJournalHeaders"].rows.values()
        described = [str(h.values.get("Description", "")) for h in rows]
        return [text for text in described if text.startswith("PayBridge settlement")]

    plain = CliRunner().invoke(app, day)
    assert plain.exit_code == 1 and headers() == []
    assert json.loads(plain.stdout)["settlement_journals"] == []
    assert "no settlement journal (--journal writes it)" in plain.stderr
    asked = CliRunner().invoke(app, [*day, "--journal"])
    assert asked.exit_code == 1, asked.stderr
    assert len(headers()) == 2 and "2 settlement journals" in asked.stderr
    settings = sandbox_settings(tmp_path)
    (row,) = audit_log(settings, open_engine(settings.store.url)).search(action="reconcile.")
    assert row.action == "reconcile.journal" and row.outcome == "ok"
    assert len(json.loads(row.detail)["journals"]) == 2


def test_journal_is_refused_when_the_settings_turn_it_off(
    built: tuple[World, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world, config = built
    config.write_text(
        config.read_text(encoding="utf-8") + "  settlement_journal: false\n", encoding="utf-8"
    )
    app = _cli(monkeypatch, world, tmp_path)
    result = CliRunner().invoke(app, ["--date", "2026-03-10", "--journal", "--config", str(config)])
    assert result.exit_code == 2
    assert "reconcile.settlement_journal is false" in result.stderr


def test_csv_out_must_be_a_folder(
    built: tuple[World, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world, config = built
    app = _cli(monkeypatch, world, tmp_path)
    taken = tmp_path / "taken.csv"
    taken.write_text("x", encoding="utf-8")
    args = ["--date", "2026-03-10", "--format", "csv", "--out", str(taken)]
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 2 and "writes a folder" in result.stderr
