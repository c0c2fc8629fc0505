"""The demo's story in process: each chapter leaves its mark in D365, the API and the report folder."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from paybridge.connectors.paytrace import TransactionRecord
from paybridge.harness.demo import DemoSummary, demo_expected, run_demo, summary_json

CARD = "4012000098765439"


def quiet_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False), out


@pytest.mark.anyio
async def test_every_chapter_is_read_back(tmp_path: Path) -> None:
    console, out = quiet_console()
    summary = await run_demo(
        40,
        exit_when_done=True,
        seed=3,
        console=console,
        timeout=120,
        report_dir=tmp_path,
        store_dir=tmp_path / "store",
    )
    text = out.getvalue()
    assert summary.ok, text
    assert (summary.posted, summary.duplicates, summary.missing) == (summary.approved, 0, 0)
    assert summary.voids >= 1 and summary.refunds >= 1 and summary.captures == 1
    assert summary.charges == 1 and summary.charge_replayed
    assert summary.event_duplicates == 1  # the signed event overlapped the poller: posted once
    assert summary.subscription_charges == 1
    assert summary.customers_created == 2  # new shoppers' D365 customers came from PayTrace
    assert summary.dead_letters == 0
    assert summary.reconciliation == "matched"
    # D365 drives PayTrace: a card order captured at two invoices, a credit note refunded once a
    # second person approved, an invoice paid by link, an ACH payment returned by the bank.
    assert summary.order_captures == 2 and summary.order_refund == "refunded"
    assert summary.paylink_paid and summary.ach_returned
    assert "waits for a second person" in text and "user:demo-controller approved it" in text
    (report,) = tmp_path.glob("reconcile-usmf-*.html")
    assert str(report) == summary.report
    assert "Settlement reconciliation" in report.read_text(encoding="utf-8")
    assert "replayed=True" in text and "duplicate" in text
    assert CARD not in text
    # Issue 17: a second company with its own PayTrace account (ids overlapping the first's).
    assert summary.second_company == "usrt" and summary.second_company_approved >= 2
    assert summary.second_company_posted == summary.second_company_approved
    assert summary.second_company_reconciliation == "matched", text
    assert list(tmp_path.glob("reconcile-usrt-*.html"))


@pytest.mark.anyio
async def test_without_exit_it_keeps_serving_and_names_the_report(tmp_path: Path) -> None:
    class Seen(Exception):
        pass

    console, out = quiet_console()
    answers: list[int] = []

    async def ready(paytrace_url: str, dynamics_url: str) -> None:
        async with httpx.AsyncClient() as http:
            answers.append((await http.get(f"{paytrace_url}/_sandbox/state/summary")).status_code)
            answers.append((await http.get(f"{dynamics_url}/_sandbox/state")).status_code)
        raise Seen  # stands in for Ctrl-C once the URLs were seen to answer

    with pytest.raises(Seen):
        await run_demo(
            10, exit_when_done=False, console=console, timeout=120, on_ready=ready,
            report_dir=tmp_path, store_dir=tmp_path / "store",
        )  # fmt: skip
    assert answers == [200, 200]
    text = out.getvalue()
    assert "Ctrl-C to stop" in text and str(tmp_path) in text
    assert list(tmp_path.glob("reconcile-usmf-*.html"))


def test_a_captured_authorization_is_an_expected_credit_line() -> None:
    records = [
        TransactionRecord(transaction_id=1, transaction_type="SALE", amount=Decimal("10.00"),
                          status_code="P", status_message="Approved"),
        TransactionRecord(transaction_id=2, transaction_type="Authorization",
                          amount=Decimal("75.00"), status_code="Y", status_message="Captured"),
        TransactionRecord(transaction_id=3, transaction_type="Authorization",
                          amount=Decimal("5.00"), status_code="Y", status_message="Voided"),
        TransactionRecord(transaction_id=4, transaction_type="Authorization",
                          amount=Decimal("6.00"), status_code="N", status_message="Pending"),
    ]  # fmt: skip
    assert demo_expected(records) == {
        "PT-1-sale": ("credit", Decimal("10.00")),
        "PT-2-capture": ("credit", Decimal("75.00")),
    }


def test_the_summary_line_keeps_the_contract_keys_first() -> None:
    summary = DemoSummary(5, 4, 4, 0, 0, 1.5, refunds=1, reconciliation="matched")
    line = summary_json(summary)
    assert line.startswith(
        '{"payments": 5, "approved": 4, "posted": 4, "duplicates": 0, "missing": 0, "seconds": 1.5,'
    )
    assert summary.ok
    assert not DemoSummary(5, 4, 4, 0, 1, 1.5).ok
