"""POST /v1/charges maps the D365 document through its template: what reaches PayTrace's sandbox."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from paybridge.app.settings import MappingSettings
from paybridge.keys import CHARGE_STEP
from paybridge.mapping import SHIPPED_DIR
from tests.integration.charging.conftest import ChargeWorld, open_profile, open_world

pytestmark = pytest.mark.anyio
SALE_PATH = "/v1/transactions/sale/by_customer"
INVOICE_V2 = "invoice_to_paytrace_sale_v2.yaml"


def templates_folder(tmp_path: Path, *extra: str) -> Path:
    """The shipped templates plus a v2 of the invoice template with ``extra`` field lines."""
    folder = tmp_path / "templates"
    shutil.copytree(SHIPPED_DIR, folder)
    v1 = (folder / "invoice_to_paytrace_sale.yaml").read_text(encoding="utf-8")
    assert "version: 1\n" in v1 and v1.endswith("\n")
    v2 = v1.replace("version: 1\n", "version: 2\n") + "".join(f"{line}\n" for line in extra)
    (folder / INVOICE_V2).write_text(v2, encoding="utf-8")
    return folder


@pytest.fixture
async def custom(tmp_path: Path) -> AsyncIterator[ChargeWorld]:
    """The engine with a template folder whose invoice template v2 maps the D365 voucher."""
    folder = templates_folder(
        tmp_path,
        "  discretionary_data.LedgerVoucher:",
        "    expr: LedgerVoucher || `null`",
        "    type: string",
        "    optional: true",
    )
    async with open_world(tmp_path, mapping=MappingSettings(templates_dir=folder)) as world:
        yield world


async def charge(world: ChargeWorld, key: str, **body: Any) -> dict[str, Any]:
    response = await world.api.post("/v1/charges", json=body, headers=world.headers(key=key))
    assert response.status_code in (201, 202), response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_template_v2_field_reaches_paytraces_discretionary_data(
    custom: ChargeWorld,
) -> None:
    await open_profile(custom.engine, "SHOP-1", "US-001")
    answer = await charge(custom, "k-v2", company="usmf", invoice_number="CIV-000101",
                          amount="125.40")  # fmt: skip
    assert answer["status"] == "approved"
    (txn,) = custom.paytrace_transactions("CIV-000101")
    assert txn.discretionary_data == {"LedgerVoucher": "ARI-000101"}
    # The shipped template's text follows the exactly-once reference, which code sets.
    assert txn.description == "PayBridge charge k-v2 Invoice CIV-000101 (usmf)"
    assert txn.customer_id == "SHOP-1" and str(txn.amount) == "125.40"
    intent = custom.engine.store.intents.get("charge:k-v2", CHARGE_STEP)
    assert intent is not None and intent.detail["template"] == "invoice_to_paytrace_sale@2"
    # The API's payment fact says what PayTrace's own record says.
    payload = custom.engine.store.queue.payload(answer["payment_event"]["key"])
    assert payload is not None and payload["description"] == txn.description
    assert payload["discretionary_data"] == {"LedgerVoucher": "ARI-000101"}
    # PayTrace's export of the same sale, which the poller reads, says the same.
    record = await custom.engine.paytrace.export_by_id(int(txn.transaction_id))
    assert record is not None and record.discretionary_data == payload["discretionary_data"]


async def test_the_shipped_templates_map_invoices_and_orders(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    await open_profile(world.engine, "SHOP-5", "US-005")
    await charge(world, "k-inv", company="usmf", invoice_number="CIV-000101", amount="10.00")
    await charge(world, "k-so", company="usmf", sales_order_number="000605", mode="authorization")
    (sale,) = world.paytrace_transactions("CIV-000101")
    assert sale.description == "PayBridge charge k-inv Invoice CIV-000101 (usmf)"
    # No discretionary data unless a template copy maps it (PayTrace may refuse unknown names).
    assert not sale.discretionary_data
    (auth,) = world.paytrace_transactions("000605")
    assert auth.transaction_type == "AUTHORIZATION"
    assert auth.description == "PayBridge charge k-so Sales order 000605 (usmf)"
    assert not auth.discretionary_data
    intent = world.engine.store.intents.get("charge:k-so", CHARGE_STEP)
    assert intent is not None and intent.detail["template"] == "order_to_paytrace_authorization@1"


async def test_a_lost_reply_is_found_by_the_reference_before_the_templates_text(
    custom: ChargeWorld,
) -> None:
    await open_profile(custom.engine, "SHOP-3", "US-003")
    custom.pt_app.state.faults.script("commit_then_drop", path=SALE_PATH)
    body = {"company": "usmf", "invoice_number": "CIV-000103", "amount": "42.00"}
    first = await charge(custom, "k-lost", **body)
    assert first["status"] == "in_doubt"
    again = await charge(custom, "k-lost", **body)
    (txn,) = custom.paytrace_transactions("CIV-000103")
    assert again["status"] == "approved" and again["transaction_id"] == str(txn.transaction_id)
    assert txn.description.startswith("PayBridge charge k-lost Invoice CIV-000103")


async def refused_and_nothing_charged(tmp_path: Path, line: str) -> dict[str, Any]:
    """Charge CIV-000101 with a template v2 carrying ``line``: refused, nothing charged, key open."""
    folder = templates_folder(tmp_path, line)
    async with open_world(tmp_path, mapping=MappingSettings(templates_dir=folder)) as world:
        await open_profile(world.engine, "SHOP-1", "US-001")
        body = {"company": "usmf", "invoice_number": "CIV-000101", "amount": "5.00"}
        response = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k"))
        assert response.status_code == 422, response.text
        assert world.paytrace_transactions("CIV-000101") == []
        state = await world.api.get("/v1/charges/k", headers=world.headers("viewer"))
        assert state.json()["status"] == "open"
        error: dict[str, Any] = response.json()["error"]
        return error


async def test_a_template_that_cannot_map_the_invoice_charges_nothing(tmp_path: Path) -> None:
    line = "  discretionary_data.Region: fail('no region on file')"
    error = await refused_and_nothing_charged(tmp_path, line)
    assert error["fields"] == {"discretionary_data.Region": "no region on file"}


async def test_a_template_reading_a_field_d365_lacks_charges_nothing(tmp_path: Path) -> None:
    line = "  discretionary_data.Region: xyzRegion || `null`"
    error = await refused_and_nothing_charged(tmp_path, line)
    assert "Could not find a property named 'xyzRegion'" in error["message"]
