"""Issue 20, items 3 and 2, from outside: ``mapping.templates_dir`` holding one edited template is
laid over the shipped set; ``paybridge serve`` starts from it and maps with the edited version,
which reads PayTrace's own fields (discretionary data, the shop's invoice id) into the D365 line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.product import World, open_world
from tests.e2e.test_product_capabilities import one_line

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).parents[2] / "src" / "paybridge" / "mapping" / "templates"
LINE_TEMPLATE = "payment_to_customer_payment_line"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def edited_template(folder: Path, name: str, *lines: str) -> Path:
    """The shipped template ``name`` as version 2 with ``lines`` added under ``fields:``."""
    folder.mkdir(exist_ok=True)
    v1 = (SHIPPED / f"{name}.yaml").read_text(encoding="utf-8")
    assert "\nversion: 1\n" in v1 and v1.rstrip().splitlines()[-1].startswith("  ")
    v2 = v1.replace("\nversion: 1\n", "\nversion: 2\n") + "".join(f"{line}\n" for line in lines)
    path = folder / f"{name}_v2.yaml"
    path.write_text(v2, encoding="utf-8")
    return path


def test_a_folder_with_one_edited_template_serves(world: World) -> None:
    folder = world.tmp / "templates"
    mine = edited_template(
        folder,
        LINE_TEMPLATE,
        "  PaymentNotes: join_nonempty(' / ', description, discretionary_data.Region, "
        "paytrace_invoice_id)",
    )
    world.paytrace.create_customer("SHOP-E2E-TPL")
    world.write_settings({"mapping": {"templates_dir": str(folder)}})
    world.cli("xref", "link", "SHOP-E2E-TPL", "usmf/US-001")

    shown = world.cli("mapping", "list").stdout.splitlines()
    rows = {line.split()[0]: line for line in shown if "@" in line.split()[0]}
    assert f"[in use; {mine}]" in rows[f"{LINE_TEMPLATE}@2"], shown
    assert "[older; shipped]" in rows[f"{LINE_TEMPLATE}@1"], shown
    assert "[in use; shipped]" in rows["paytrace_customer_to_d365_customer@1"], shown

    world.start_engine("serve")
    sale = world.paytrace.call(
        "/v1/transactions/sale/by_customer",
        {
            "customer_id": "SHOP-E2E-TPL", "amount": "18.20", "description": "Web order",
            "invoice_id": "WEB-5521", "discretionary_data": {"Region": "West"},
        },
    )["transaction_id"]  # fmt: skip
    line = one_line(world, str(sale), timeout=30)
    assert line["PaymentNotes"] == "Web order / West / WEB-5521"
    assert line["MarkedInvoice"] == ""  # WEB-5521 names no D365 invoice
    assert line["PaymentId"] == f"PT-{sale}-sale"
    trace = world.cli("trace", str(sale), "--json").stdout
    assert f'"{LINE_TEMPLATE}@2"' in trace, trace


def test_a_charge_carries_a_d365_invoice_field_and_the_templates_description(
    world: World,
) -> None:
    """Item 1: a version 2 of ``invoice_to_paytrace_sale`` maps the invoice's LedgerVoucher into
    PayTrace's discretionary data; ``POST /v1/charges`` charges the invoice through it, and the
    payment comes back to D365 with the voucher (through a payment line template copy)."""
    folder = world.tmp / "templates"
    edited_template(
        folder,
        "invoice_to_paytrace_sale",
        "  discretionary_data.LedgerVoucher:",
        "    expr: LedgerVoucher || `null`",
        "    type: string",
        "    optional: true",
    )
    edited_template(
        folder,
        LINE_TEMPLATE,
        "  PaymentNotes: concat('Voucher ', discretionary_data.LedgerVoucher)",
    )
    world.paytrace.create_customer("SHOP-E2E-CHG")
    world.write_settings({"mapping": {"templates_dir": str(folder)}})
    world.cli("xref", "link", "SHOP-E2E-CHG", "usmf/US-001")
    operator = world.api_key("operator")
    world.start_engine("serve")

    key = "e2e-template-charge"
    body = {"company": "usmf", "invoice_number": "CIV-000101", "amount": "25.00"}
    with world.api(operator) as api:
        answer = api.post("/v1/charges", json=body, headers={"Idempotency-Key": key})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "approved", answer.json()
    (sale,) = world.paytrace.approved_sales(lambda t: t.get("invoice_id") == "CIV-000101")
    assert sale["discretionary_data"] == {"LedgerVoucher": "ARI-000101"}, sale
    assert sale["description"] == f"PayBridge charge {key} Invoice CIV-000101 (usmf)", sale
    assert sale["customer_id"] == "SHOP-E2E-CHG"

    line = one_line(world, str(sale["transaction_id"]), timeout=30)
    assert line["PaymentNotes"] == "Voucher ARI-000101"
    assert line["MarkedInvoice"] == "CIV-000101"
