"""What PayBridge does as a product: separate processes, a settings file, outcomes read over HTTP.

Each test starts both sandboxes (``paybridge-sandbox``), writes a settings file whose secrets are
``env:`` references, prepares with the ``paybridge`` CLI, runs ``paybridge worker`` or
``paybridge serve``, and judges only what PayTrace and D365 show over their HTTP APIs and what
PayBridge's own API and CLI say. Nothing is imported from ``paybridge``; see ``product.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.product import (
    HOST,
    MERCHANT_TZ,
    World,
    fail,
    free_port,
    merchant_today,
    open_world,
    stays,
    wait_for,
)

pytestmark = pytest.mark.slow

SALE_PATH = "/v1/transactions/sale/by_customer"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def money(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


def one_line(world: World, transaction_id: str, *, timeout: float) -> dict[str, Any]:
    """Wait until D365 holds a payment line for the PayTrace transaction; it must be one."""
    assert world.engine is not None
    lines = wait_for(
        f"D365 CustomerPaymentJournalLines holds a line with PaymentReference {transaction_id}",
        lambda: world.dynamics.payment_lines(transaction_id),
        lambda rows: len(rows) >= 1,
        timeout=timeout,
        watch=[world.engine],
        give_up=lambda: dead_letters(world, transaction_id),  # e.g. no D365 customer for it
    )
    if len(lines) != 1:
        fail(
            f"{len(lines)} D365 lines for PayTrace transaction {transaction_id}: {lines}",
            [world.engine],
        )
    return lines[0]


def account_of(line: dict[str, Any]) -> str:
    """The customer account of a payment line (D365 escapes a hyphen in a display value: US\\-001)."""
    return str(line["AccountDisplayValue"]).replace("\\", "")


def dead_letters(world: World, match: str) -> str | None:
    """What ``paybridge dlq list --match`` shows for ``match``; None when it shows nothing."""
    shown = world.cli("dlq", "list", "--match", match, check=False)
    rows = [line for line in shown.stdout.splitlines() if match in line]
    return f"dead-lettered: {' | '.join(rows)}" if rows else None


def test_a_sale_becomes_exactly_one_credit_line_in_d365(world: World) -> None:
    world.paytrace.create_customer("SHOP-E2E-1")
    world.write_settings()
    world.cli("xref", "link", "SHOP-E2E-1", "usmf/US-001")
    engine = world.start_engine("worker")

    sale = world.paytrace.sale_by_customer("SHOP-E2E-1", "123.45", "WEB-E2E-1")
    one_line(world, sale, timeout=30)
    # Let the engine go round again: a later sale reaches D365, so the poller has read the
    # first one's window once more; the first sale is still one line, and stays one.
    later = world.paytrace.sale_by_customer("SHOP-E2E-1", "5.00", "WEB-E2E-2")
    one_line(world, later, timeout=30)
    (line,) = stays(
        f"exactly one D365 line for PayTrace sale {sale}",
        lambda: world.dynamics.payment_lines(sale),
        lambda rows: len(rows) == 1,
        seconds=2.0,  # four poll intervals
        watch=[engine],
    )
    assert line["dataAreaId"] == "usmf"
    assert line["AccountType"] == "Cust" and account_of(line) == "US-001"
    assert money(line["CreditAmount"]) == Decimal("123.45"), line
    assert money(line.get("DebitAmount")) == 0, line
    assert line["PaymentId"] == f"PT-{sale}-sale"


def test_the_running_product_resolves_an_in_doubt_charge_into_one_sale(world: World) -> None:
    world.paytrace.create_customer("SHOP-E2E-2")
    world.write_settings({"paytrace": {"timeout_seconds": 5}})
    world.cli("xref", "link", "SHOP-E2E-2", "usmf/US-003")
    operator = world.api_key("operator")
    engine = world.start_engine("serve")
    # PayTrace commits the next sale by customer, and its answer is lost on the way back.
    world.paytrace.script_fault("commit_then_drop", SALE_PATH)

    key = "e2e-in-doubt-1"
    body = {"company": "usmf", "invoice_number": "CIV-000103", "amount": "42.00"}
    with world.api(operator) as api:
        first = api.post("/v1/charges", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "in_doubt", first.json()
        assert world.paytrace.faults()["injected"].get("commit_then_drop") == 1

        resolved = wait_for(
            f"GET /v1/charges/{key} says approved (the runtime resolved the in-doubt charge)",
            lambda: api.get(f"/v1/charges/{key}").json(),
            lambda state: state.get("status") == "approved",
            timeout=60,
            watch=[engine],
            give_up=lambda: dead_letters(world, key),
        )
    sales = world.paytrace.approved_sales(lambda t: t.get("invoice_id") == "CIV-000103")
    assert len(sales) == 1, f"PayTrace holds {len(sales)} approved sales for CIV-000103: {sales}"
    assert str(sales[0]["transaction_id"]) == resolved["transaction_id"]
    assert money(sales[0]["amount"]) == Decimal("42.00")
    assert resolved["amount"] == {"amount": "42.00", "currency": "USD"}


def _of_subscription(subscription_id: int) -> Any:
    def named(record: dict[str, Any]) -> bool:
        for text in (record.get("description"), record.get("invoice_id")):
            parts = str(text or "").split(":")
            if len(parts) >= 2 and parts[0] == "sub" and parts[1] == str(subscription_id):
                return True
        return False

    return named


def test_a_subscription_due_today_is_billed_once_and_posted(world: World) -> None:
    world.paytrace.create_customer("SUB-E2E-1")
    world.write_settings(
        {"billing": {"enabled": True, "interval_seconds": 1, "timezone": MERCHANT_TZ}}
    )
    world.cli("xref", "link", "SUB-E2E-1", "usmf/US-006")
    today = merchant_today(MERCHANT_TZ)
    added = world.cli(
        "subscriptions", "add", "--customer", "SUB-E2E-1", "--amount", "19.99",
        "--start", today.isoformat(), "--frequency", "monthly", "--d365", "usmf/US-006",
    )  # fmt: skip
    assert "already due" in added.stdout, added.stdout  # the CLI agrees a period is due now
    (row,) = [
        json.loads(line)
        for line in world.cli("subscriptions", "list", "--json").stdout.splitlines()
        if line.strip()
    ]
    sub_id = int(row["id"])
    engine = world.start_engine("serve")

    mine = _of_subscription(sub_id)
    sales = wait_for(
        f"PayTrace holds an approved sale for subscription {sub_id}",
        lambda: world.paytrace.approved_sales(mine),
        lambda found: len(found) >= 1,
        timeout=20,
        watch=[engine],
        explain=lambda: world.cli("subscriptions", "show", str(sub_id), check=False).stdout,
    )
    sale = str(sales[0]["transaction_id"])
    one_line(world, sale, timeout=20)

    def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return world.paytrace.approved_sales(mine), world.dynamics.payment_lines(sale)

    charged, (line,) = stays(
        f"one PayTrace sale and one D365 line for subscription {sub_id}",
        both,
        lambda seen: len(seen[0]) == 1 and len(seen[1]) == 1,
        seconds=3.5,  # three billing intervals and more
        watch=[engine],
    )
    assert money(charged[0]["amount"]) == Decimal("19.99")
    assert account_of(line) == "US-006" and line["dataAreaId"] == "usmf"
    assert money(line["CreditAmount"]) == Decimal("19.99")


def test_the_morning_reconciliation_writes_its_reports(world: World) -> None:
    reports = world.tmp / "reports"
    world.write_settings(
        {
            "reconcile": {
                "schedule_at": "00:00",
                "reports_dir": str(reports),
                "settlement_journal": False,
            }
        }
    )
    engine = world.start_engine("worker")

    def written() -> tuple[str, dict[str, Any]] | None:
        # Yesterday in the merchant's zone, looked up each time (the test may cross midnight).
        day = (merchant_today(MERCHANT_TZ) - timedelta(days=1)).isoformat()
        html = reports / f"reconcile-usmf-{day}.html"
        data = reports / f"reconcile-usmf-{day}.json"
        if not (html.is_file() and data.is_file()):
            return None
        try:
            return day, json.loads(data.read_text(encoding="utf-8"))
        except ValueError:
            return None  # still being written

    found = wait_for(
        "reconcile-usmf-<yesterday>.html and .json in reconcile.reports_dir",
        written,
        lambda seen: seen is not None,
        timeout=30,
        watch=[engine],
        explain=lambda: f"{reports} holds {sorted(p.name for p in reports.glob('*'))}",
    )
    assert found is not None
    day, report = found
    assert report["company"] == "usmf" and report["day"] == day, report
    assert (reports / f"reconcile-usmf-{day}.html").read_text(encoding="utf-8").strip()


def test_the_cut_off_posts_the_payment_journal(world: World) -> None:
    # Named like a seeded D365 account: matched by the same-id rule, no xref needed.
    world.paytrace.create_customer("US-002")
    world.write_settings(
        {"o2c": {"post_journals": True, "post_at": "00:00", "post_interval_seconds": 1}}
    )
    engine = world.start_engine("worker")

    sale = world.paytrace.sale_by_customer("US-002", "77.10", "WEB-E2E-5")
    line = one_line(world, sale, timeout=30)
    company, batch = line["dataAreaId"], line["JournalBatchNumber"]
    wait_for(
        f"D365 CustomerPaymentJournalHeaders {company}/{batch} shows IsPosted = Yes",
        lambda: world.dynamics.journal_header(company, batch),
        lambda header: header is not None and header.get("IsPosted") == "Yes",
        timeout=30,
        watch=[engine],
    )


def test_serve_refuses_an_unknown_setting_in_one_line(world: World) -> None:
    world.write_settings({"worker": {"bogus_knob": 3}})
    port = str(free_port())
    result = world.cli("serve", "--host", HOST, "--port", port, check=False, timeout=30)
    said = [
        line for line in [*result.stdout.splitlines(), *result.stderr.splitlines()] if line.strip()
    ]
    assert result.returncode == 2, (result.returncode, said)
    assert len(said) == 1, said
    assert "worker.bogus_knob" in said[0], said
    assert "Traceback" not in result.stdout + result.stderr


def test_an_invoice_paid_by_link_is_charged_once_and_settled_in_d365(world: World) -> None:
    """Pay-by-link: `paybridge paylink create`, the page served, Protect's token pair posted
    twice; one PayTrace sale, one D365 line marked against the invoice, the invoice settled."""
    sections: dict[str, Any] = {
        "paylinks": {"link_secret": "env:PAY_LINK_SECRET"},
        "o2c": {"post_journals": True, "post_at": "00:00", "post_interval_seconds": 1},
    }
    world.write_settings(sections)
    engine = world.start_engine("serve")
    sections["paylinks"]["public_url"] = world.api_url  # known once serve listens
    world.write_settings(sections)
    issued = world.cli("paylink", "create", "--invoice", "CIV-000105", "--company", "usmf")
    url = issued.stdout.split()[0]
    assert url.startswith(f"{world.api_url}/pay/"), issued.stdout

    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        assert page.status_code == 200 and "5,000.00 USD" in page.text, page.text[:500]
        first = browser.post(url, json=world.paytrace.tokenize())
        again = browser.post(url, json=world.paytrace.tokenize())
        assert first.status_code == 201, first.text
        assert again.status_code == 201 and again.json() == first.json()
        tid = str(first.json()["transaction_id"])
        line = one_line(world, tid, timeout=30)
        assert line["MarkedInvoice"] == "CIV-000105" and account_of(line) == "US-005"
        assert money(line["CreditAmount"]) == Decimal("5000.00")
        assert "This invoice is paid" in browser.get(url).text
    sales = world.paytrace.approved_sales(lambda t: t.get("invoice_id") == "CIV-000105")
    assert [str(s["transaction_id"]) for s in sales] == [tid]
    (invoice,) = wait_for(
        "D365 shows invoice CIV-000105 settled (the cut-off posted the payment journal)",
        lambda: world.dynamics.query(
            "CustTransactions", "dataAreaId eq 'usmf' and Invoice eq 'CIV-000105'"
        ),
        lambda rows: len(rows) == 1 and money(rows[0].get("SettleAmountCur")) == Decimal("5000"),
        timeout=30,
        watch=[engine],
    )
    assert invoice["AccountNum"] == "US-005"


def test_an_ach_payment_posts_and_its_return_reverses_it_once(world: World) -> None:
    """ACH: a check sale on PayTrace's check API is posted by the worker's paytrace.poll_checks
    job; it settles, and the bank's return (R01, the sandbox's emulator-only call) reverses it,
    once; `paybridge reconcile` matches both with their D365 lines (batch ACH)."""
    world.paytrace.call(
        "/v1/customer/create",
        {
            "customer_id": "US-001",  # matched to the D365 account by the same-id rule
            "check": {"account_number": "000123456789", "routing_number": "325070760"},
            "billing_address": {"name": "E2E ACH payer", "zip": "98101"},
        },
    )
    world.write_settings({
        "checks": {"enabled": True, "poll_interval_seconds": 0.5, "payment_method": "ELECTRONIC"},
        "reconcile": {"companies": {"usmf": {"bank_account": "USMF OPER"}},
                      "require_posted": False, "settlement_journal": False},
    })  # fmt: skip
    engine = world.start_engine("worker")
    made = world.paytrace.call(
        "/v1/checks/sale/by_customer",
        {"customer_id": "US-001", "amount": "321.00", "invoice_id": "CIV-000101"},
    )
    today = merchant_today().isoformat()
    tid = f"ACH{made['check_transaction_id']}"
    line = one_line(world, tid, timeout=30)
    assert line["PaymentId"] == f"PT-{tid}-sale" and line["MarkedInvoice"] == "CIV-000101"
    assert money(line["CreditAmount"]) == Decimal("321.00")
    assert line["PaymentMethodName"] == "ELECTRONIC"

    for event, extra in (("settle", {}), ("return", {"code": "R01"})):
        answer = world.paytrace.http.post(
            f"/_sandbox/checks/{event}",
            json={"check_transaction_id": made["check_transaction_id"], **extra},
        )
        assert answer.status_code == 200, answer.text
    wait_for(
        f"D365 holds a reversing return line of {tid}",
        lambda: world.dynamics.payment_lines(tid),
        lambda rows: len(rows) >= 2,
        timeout=30,
        watch=[engine],
    )
    lines = stays(
        f"D365 holds {tid}'s sale and exactly one reversing return line",
        lambda: world.dynamics.payment_lines(tid),
        lambda rows: len(rows) == 2,
        seconds=2.0,  # four polls of the check export, each seeing the return again
        watch=[engine],
    )
    (back,) = [row for row in lines if row["PaymentId"] == f"PT-{tid}-return"]
    assert money(back["DebitAmount"]) == Decimal("321.00")
    assert "R01: insufficient funds" in back["TransactionText"]

    out = world.tmp / "reconcile-ach.json"
    result = world.cli("reconcile", "--date", today, "--format", "json", "--out", str(out),
                       check=False)  # fmt: skip
    report = json.loads(out.read_text(encoding="utf-8"))
    assert result.returncode == 0, (result.stdout, result.stderr, report["exceptions"])
    assert report["counts"].get("matched") == 2, report["counts"]  # the sale and its return
    (ach,) = [b for b in report["batches"] if b["batch"] == 0]
    assert ach["pt_count"] == ach["d365_count"] == 2, ach


def test_level_2_3_findings_block_a_sale_and_are_shown_by_api_and_cli(world: World) -> None:
    """Level 2/3 under ``block``: an invoice without a PO number is refused before anything
    reaches PayTrace, naming the field; the pre-flight is shown by the API and the CLI."""
    world.paytrace.create_customer("SHOP-E2E-L3")
    world.write_settings({"level3": {"enabled": True, "on_failure": "block"}})
    world.cli("xref", "link", "SHOP-E2E-L3", "usmf/US-003")
    operator = world.api_key("operator")
    blocking = world.start_engine("serve")
    body = {"company": "usmf", "invoice_number": "CIV-000103", "amount": "4199.99"}
    with world.api(operator) as api:
        refused = api.post("/v1/charges", json=body, headers={"Idempotency-Key": "e2e-l3-1"})
        assert refused.status_code == 422, refused.text
        assert "CustomersOrderReference" in refused.json()["error"]["fields"]
        shown = api.post(
            "/v1/level3/check", json={"company": "usmf", "invoice_number": "CIV-000103"}
        )
        assert shown.status_code == 200, shown.text
        found = {f["code"]: f["severity"] for f in shown.json()["findings"]}
        assert found == {"po_missing": "error", "tax_missing": "warning"}
        assert shown.json()["line_items"] == 2 and shown.json()["amount"] == "4199.99"
    assert world.paytrace.approved_sales(lambda t: t.get("invoice_id") == "CIV-000103") == []
    said = world.cli("level3", "check", "--invoice", "CIV-000103", check=False)
    assert said.returncode == 1, said.stdout + said.stderr
    assert "error: CustomersOrderReference" in said.stdout and "[po_missing]" in said.stdout

    # Under warn, without a required PO: charged, the findings kept, Level 3 sent to Visa.
    blocking.stop()
    world.write_settings({"level3": {"enabled": True, "require_po": False}})
    world.start_engine("serve")
    with world.api(operator) as api:
        charged = api.post("/v1/charges", json=body, headers={"Idempotency-Key": "e2e-l3-2"})
        assert charged.status_code == 201, charged.text
        level3 = charged.json()["level3"]
        assert level3["status"] == "warnings" and level3["sent"] == "sent (visa)", level3
        kept = api.get("/v1/charges/e2e-l3-2").json()["level3"]
        assert [f["code"] for f in kept["findings"]] == ["po_missing", "tax_missing"]


def test_an_ach_return_after_posting_reopens_the_invoice_through_the_reversal_service(
    world: World,
) -> None:
    """ACH with ``checks.reverse_service``: the posted payment of CIV-000102 is reversed in D365
    (the D365 sandbox's emulator-only service) and the invoice is open again, once."""
    world.paytrace.call(
        "/v1/customer/create",
        {
            "customer_id": "US-002",
            "check": {"account_number": "000123456789", "routing_number": "325070760"},
            "billing_address": {"name": "E2E ACH payer", "zip": "98101"},
        },
    )
    world.write_settings(
        {
            "checks": {"enabled": True, "poll_interval_seconds": 0.5,
                       "reverse_service": "PayBridgeSandbox/Settlements/reverse"},
            "o2c": {"post_journals": True, "post_at": "00:00", "post_interval_seconds": 1},
        }
    )  # fmt: skip
    engine = world.start_engine("worker")
    made = world.paytrace.call(
        "/v1/checks/sale/by_customer",
        {"customer_id": "US-002", "amount": "2500.50", "invoice_id": "CIV-000102"},
    )
    tid = f"ACH{made['check_transaction_id']}"

    def invoice() -> dict[str, Any]:
        (row,) = world.dynamics.query(
            "CustTransactions", "dataAreaId eq 'usmf' and Invoice eq 'CIV-000102'"
        )
        return row

    wait_for("CIV-000102 settled by the ACH payment", invoice,
             lambda row: money(row.get("SettleAmountCur")) == Decimal("2500.50"),
             timeout=30, watch=[engine])  # fmt: skip
    returned = world.paytrace.http.post(
        "/_sandbox/checks/return", json={"check_transaction_id": made["check_transaction_id"],
                                         "code": "R01"},
    )  # fmt: skip
    assert returned.status_code == 200, returned.text
    wait_for("CIV-000102 open again after the return", invoice,
             lambda row: money(row.get("SettleAmountCur")) == 0, timeout=30, watch=[engine])  # fmt: skip
    payments = stays(
        f"the payment {tid} and its one reversal in D365",
        lambda: world.dynamics.query("CustTransactions", f"PaymReference eq '{tid}'"),
        lambda rows: len(rows) == 2,
        seconds=2.0,
        watch=[engine],
    )
    assert sorted(money(p["AmountCur"]) for p in payments) == [
        Decimal("-2500.50"),
        Decimal("2500.50"),
    ]
    assert world.dynamics.payment_lines(tid)[0]["PaymentId"] == f"PT-{tid}-sale"
    assert len(world.dynamics.payment_lines(tid)) == 1  # reversed, not a debit line
