"""Issue 17 item 6 as a product: two PayTrace merchant accounts (two sandbox processes handing
out the same transaction ids), one D365 with companies usmf and usrt, ``paybridge serve`` running
the engine from a settings file with ``paytrace.accounts``. Sales of account A reach usmf, of
account B usrt; a charge of a usrt invoice goes through account B; each company reconciles
clean against its own account. Judged only through the sandboxes' HTTP APIs, PayBridge's API
and CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.product import (
    PayTrace,
    World,
    _start_sandbox,
    fail,
    merchant_today,
    open_world,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[World, PayTrace]]:
    with open_world(tmp_path) as opened:
        # Account B's sandbox starts at account A's first id: their ids overlap on purpose.
        first = 100_000_001 + (int(urlsplit(opened.paytrace.url).port or 0) % 1000) * 100_000
        (tmp_path / "retail").mkdir()
        proc, url = _start_sandbox(
            "paytrace", tmp_path / "retail", ["--first-transaction-id", str(first)]
        )
        opened.processes.append(proc)
        retail = PayTrace(url)
        try:
            wait_for("the second paytrace sandbox answers", retail.summary, timeout=30,
                     watch=[proc])  # fmt: skip
            yield opened, retail
        finally:
            retail.close()


def _line_in(world: World, company: str, reference: str) -> dict[str, Any] | None:
    rows = [
        r for r in world.dynamics.payment_lines(reference) if r["dataAreaId"].lower() == company
    ]
    if len(rows) > 1:
        fail(f"{len(rows)} lines for {reference} in {company}: {rows}", world.processes)
    return rows[0] if rows else None


def _wait_line(world: World, company: str, reference: str) -> dict[str, Any]:
    line = wait_for(
        f"a {company} payment line for PayTrace transaction {reference}",
        lambda: _line_in(world, company, reference),
        lambda row: row is not None,
        timeout=30,
        watch=[world.engine] if world.engine else [],
    )
    assert line is not None
    return line


def _usrt_invoice(world: World, price: str) -> str:
    header = world.dynamics.create("SalesOrderHeadersV2", {
        "dataAreaId": "usrt", "OrderingCustomerAccountNumber": "USRT-001",
        "CustomerPaymentMethodName": "CREDITCARD",
    })  # fmt: skip
    order = str(header["SalesOrderNumber"])
    world.dynamics.create("SalesOrderLinesV3", {
        "dataAreaId": "usrt", "SalesOrderNumber": order, "ItemNumber": "D0001",
        "OrderedSalesQuantity": 1, "SalesPrice": price,
    })  # fmt: skip
    done = world.dynamics.service(
        "PayBridgeSandbox/SalesOrders/invoice", {"dataAreaId": "usrt", "SalesOrderNumber": order}
    )
    return str(done["InvoiceNumber"])


def test_two_companies_with_two_paytrace_accounts(world: tuple[World, PayTrace]) -> None:
    w, retail = world
    main = w.paytrace
    main.create_customer("SHOP-MC-A")
    retail.create_customer("SHOP-MC-B")
    w.write_settings({
        "paytrace": {"accounts": [{
            "name": "retail", "company": "usrt", "base_url": retail.url,
            "username": "env:PAYTRACE_USERNAME", "password": "env:PAYTRACE_PASSWORD",
            "integrator_id": "env:PAYTRACE_INTEGRATOR_ID", "bank_account": "USRT OPER",
        }]},
        "reconcile": {
            "companies": {"usmf": {"bank_account": "USMF OPER"},
                          "usrt": {"bank_account": "USRT OPER"}},
            "require_posted": False, "settlement_journal": False,
        },
    })  # fmt: skip
    w.cli("xref", "link", "SHOP-MC-A", "usmf/US-001")
    w.cli("xref", "link", "retail/SHOP-MC-B", "usrt/USRT-001")
    invoice = _usrt_invoice(w, "61.50")
    operator = w.api_key("operator")
    w.start_engine("serve")

    sale_a = main.sale_by_customer("SHOP-MC-A", "12.00", "WEB-MC-A")
    sale_b = retail.sale_by_customer("SHOP-MC-B", "34.00", "WEB-MC-B")
    assert sale_a == sale_b  # two merchants, one number
    line_a, line_b = _wait_line(w, "usmf", sale_a), _wait_line(w, "usrt", sale_b)
    assert Decimal(str(line_a["CreditAmount"])) == Decimal("12.00")
    assert Decimal(str(line_b["CreditAmount"])) == Decimal("34.00")
    assert str(line_b["AccountDisplayValue"]).replace("\\", "") == "USRT-001"

    with w.api(operator) as api:
        reply = api.post(
            "/v1/charges", json={"company": "usrt", "invoice_number": invoice},
            headers={"Idempotency-Key": "e2e-multico-usrt-1"},
        )  # fmt: skip
    assert reply.status_code in (200, 201), reply.text
    charged = reply.json()
    assert charged["status"] == "approved", charged
    on_b = retail.approved_sales(lambda t: t.get("invoice_id") == invoice)
    assert [str(t["transaction_id"]) for t in on_b] == [charged["transaction_id"]]
    assert main.approved_sales(lambda t: t.get("invoice_id") == invoice) == []
    line_c = _wait_line(w, "usrt", charged["transaction_id"])
    assert line_c["MarkedInvoice"] == invoice

    main.call("/v1/transactions/settle", {})
    retail.call("/v1/transactions/settle", {})
    today = merchant_today().isoformat()
    for company, matched in (("usmf", 1), ("usrt", 2)):
        out = w.tmp / f"reconcile-{company}.json"
        result = w.cli("reconcile", "--company", company, "--date", today, "--format", "json",
                       "--out", str(out), check=False)  # fmt: skip
        report = json.loads(out.read_text(encoding="utf-8"))
        assert result.returncode == 0, (company, result.stdout, result.stderr, report)
        assert report["company"] == company
        assert report["counts"].get("matched") == matched, report["counts"]
