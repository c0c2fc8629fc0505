"""Every captured PayTrace response has a sandbox twin with the same keys, types and texts.

Each scenario makes the sandbox answer the request that produced the capture; the answer must
have the same key set and JSON types recursively, and the same status_message and error texts
(texts carrying an id or a name are compared with digits and names normalised).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from paybridge_sandbox.paytrace import PayTraceSandboxSettings
from tests.conftest import conformance_dir
from tests.sandbox.paytrace.conftest import INTEGRATOR, VISA, Harness
from tests.sandbox.paytrace.test_exports import shape

pytestmark = pytest.mark.anyio
Scenario = Callable[[Harness, Path], Awaitable[httpx.Response]]
ACCOUNT = {"account_number": "123456", "routing_number": "325070760"}
ACH_BILLING = {"name": "Jane Doe"}


def request(folder: Path, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((folder / f"{name}.request.json").read_text())
    body["integrator_id"] = INTEGRATOR
    return body


async def _oauth(pt: Harness, folder: Path) -> httpx.Response:
    grant = {"grant_type": "password", "username": "sandbox", "password": "sandbox"}
    return await pt.client.post("/oauth/token", data=grant)


async def _oauth_bad(pt: Harness, folder: Path) -> httpx.Response:
    grant = {"grant_type": "password", "username": "sandbox", "password": "wrong"}
    return await pt.client.post("/oauth/token", data=grant)


async def _sale_keyed(pt: Harness, folder: Path) -> httpx.Response:
    return await pt.post("/v1/transactions/sale/keyed", request(folder, "sale_keyed"))


async def _sale_csc(pt: Harness, folder: Path) -> httpx.Response:
    body = {**request(folder, "sale_keyed"), "csc": "999"}
    return await pt.post("/v1/transactions/sale/keyed", body)


async def _sale_declined(pt: Harness, folder: Path) -> httpx.Response:
    body = {**request(folder, "sale_keyed"), "amount": 1.12}
    return await pt.post("/v1/transactions/sale/keyed", body)


async def _sale_declined_dd(pt: Harness, folder: Path) -> httpx.Response:
    body = {
        **request(folder, "sale_keyed"),
        "amount": 1.12,
        "csc": "999",
        "discretionary_data": {"BALANCEAMOUNT": "11111.11"},
    }
    return await pt.post("/v1/transactions/sale/keyed", body)


async def _auth_expired(pt: Harness, folder: Path) -> httpx.Response:
    body = {**request(folder, "sale_keyed"), "amount": "0.29"}
    return await pt.post("/v1/transactions/authorization/keyed", body)


async def _sale_by_customer(pt: Harness, folder: Path) -> httpx.Response:
    await pt.customer("99")
    return await pt.post("/v1/transactions/sale/by_customer", request(folder, "sale_by_customer"))


async def _sale_by_transaction(pt: Harness, folder: Path) -> httpx.Response:
    first = await pt.sale()
    body = {
        **request(folder, "sale_by_transaction"),
        "transaction_id": str(first["transaction_id"]),
    }
    return await pt.post("/v1/transactions/sale/by_transaction", body)


async def _capture(pt: Harness, folder: Path) -> httpx.Response:
    auth = await pt.authorize("40.00")
    return await pt.post(
        "/v1/transactions/authorization/capture",
        {"transaction_id": auth["transaction_id"], "amount": "40.00"},
    )


async def _capture_blank(pt: Harness, folder: Path) -> httpx.Response:
    return await pt.post("/v1/transactions/authorization/capture", {"transaction_id": ""})


async def _capture_sale(pt: Harness, folder: Path) -> httpx.Response:
    sale = await pt.sale()
    return await pt.post(
        "/v1/transactions/authorization/capture", {"transaction_id": sale["transaction_id"]}
    )


async def _refund(pt: Harness, folder: Path) -> httpx.Response:
    sale = await pt.sale()
    await pt.ok("/v1/transactions/settle")
    return await pt.post(
        "/v1/transactions/refund/for_transaction",
        {"transaction_id": sale["transaction_id"], "amount": "3.00"},
    )


async def _refund_unsettled(pt: Harness, folder: Path) -> httpx.Response:
    sale = await pt.sale()
    return await pt.post(
        "/v1/transactions/refund/for_transaction", {"transaction_id": sale["transaction_id"]}
    )


async def _refund_missing(pt: Harness, folder: Path) -> httpx.Response:
    return await pt.post("/v1/transactions/refund/for_transaction", {"transaction_id": 123})


async def _refund_forbidden(pt: Harness, folder: Path) -> httpx.Response:
    forbidden = frozenset({"/v1/transactions/refund/for_transaction"})
    locked = Harness(PayTraceSandboxSettings(forbidden_paths=forbidden))
    return await locked.post("/v1/transactions/refund/for_transaction", {"transaction_id": 1})


async def _void(pt: Harness, folder: Path) -> httpx.Response:
    sale = await pt.sale()
    return await pt.post("/v1/transactions/void", {"transaction_id": sale["transaction_id"]})


async def _void_blank(pt: Harness, folder: Path) -> httpx.Response:
    return await pt.post("/v1/transactions/void", {"transaction_id": ""})


async def _void_settled(pt: Harness, folder: Path) -> httpx.Response:
    sale = await pt.sale()
    await pt.ok("/v1/transactions/settle")
    return await pt.post("/v1/transactions/void", {"transaction_id": sale["transaction_id"]})


async def _customer(pt: Harness, folder: Path) -> httpx.Response:
    return await pt.post("/v1/customer/create", request(folder, "customer_create"))


async def _customer_dup(pt: Harness, folder: Path) -> httpx.Response:
    await pt.post("/v1/customer/create", request(folder, "customer_create"))
    return await pt.post("/v1/customer/create", request(folder, "customer_create"))


async def _protect_customer(pt: Harness, folder: Path) -> httpx.Response:
    tokens = (await pt.client.post("/_sandbox/protect/tokenize", json={"credit_card": VISA})).json()
    body = {**request(folder, "customer_pt_protect_create"), **tokens}
    return await pt.post("/v1/customer/pt_protect_create", body)


async def _level3(pt: Harness, folder: Path) -> httpx.Response:
    sale = await pt.sale()
    items = [{"description": "Widget", "quantity": 1, "unit_cost": 10, "amount": 10}]
    return await pt.post(
        "/v1/level_three/visa", {"transaction_id": sale["transaction_id"], "line_items": items}
    )


async def _level3_blank(pt: Harness, folder: Path) -> httpx.Response:
    return await pt.post("/v1/level_three/visa", {"transaction_id": ""})


async def _check_sale(pt: Harness, folder: Path) -> httpx.Response:
    body = {"amount": "10.00", "check": ACCOUNT, "billing_address": ACH_BILLING}
    return await pt.post("/v1/checks/sale/by_account", body)


async def _check_declined(pt: Harness, folder: Path) -> httpx.Response:
    body = {"amount": "0.29", "check": ACCOUNT, "billing_address": ACH_BILLING}
    return await pt.post("/v1/checks/sale/by_account", body)


async def _check_fund(pt: Harness, folder: Path) -> httpx.Response:
    hold = await pt.ok("/v1/checks/hold/by_account", {"amount": 5, "check": ACCOUNT})
    return await pt.post(
        "/v1/checks/manage/fund",
        {"check_transaction_id": hold["check_transaction_id"], "amount": 5},
    )


async def _check_refund(pt: Harness, folder: Path) -> httpx.Response:
    sale = await pt.ok("/v1/checks/sale/by_account", {"amount": 5, "check": ACCOUNT})
    return await pt.post(
        "/v1/checks/refund/by_transaction",
        {"check_transaction_id": sale["check_transaction_id"], "amount": 5},
    )


async def _check_missing(pt: Harness, folder: Path) -> httpx.Response:
    return await pt.post("/v1/checks/manage/void", {"check_transaction_id": 77})


async def _check_invalid(pt: Harness, folder: Path) -> httpx.Response:
    bad = {"account_number": "1", "routing_number": "1"}
    body = {"amount": 5, "customer_id": "customerid123", "check": bad}
    return await pt.post("/v1/checks/sale/by_customer", body)


async def _export(pt: Harness, folder: Path) -> httpx.Response:
    await pt.sale("110", invoice_id="inv1234", tax_amount="8.10")
    await pt.ok("/v1/transactions/settle")
    body = {"start_date": "01/15/2026", "end_date": "01/15/2026"}
    return await pt.post("/v1/transactions/export/by_date_range", body)


SCENARIOS: dict[str, Scenario] = {
    "oauth_token": _oauth,
    "oauth_token_2017": _oauth,
    "oauth_token_invalid_grant": _oauth_bad,
    "sale_keyed_approved": _sale_keyed,
    "sale_keyed_approved_csc_match": _sale_csc,
    "sale_keyed_declined": _sale_declined,
    "sale_keyed_declined_with_discretionary_data": _sale_declined_dd,
    "authorization_keyed_declined_expired_card": _auth_expired,
    "sale_by_customer_approved": _sale_by_customer,
    "sale_by_transaction_approved": _sale_by_transaction,
    "capture_approved": _capture,
    "capture_error_invalid_transaction_id": _capture_blank,
    "capture_error_not_capturable": _capture_sale,
    "refund_for_transaction_approved": _refund,
    "refund_error_not_settled": _refund_unsettled,
    "refund_error_transaction_not_found": _refund_missing,
    "refund_error_insufficient_permissions": _refund_forbidden,
    "void_approved": _void,
    "void_error_invalid_transaction_id": _void_blank,
    "void_error_not_voidable": _void_settled,
    "customer_create": _customer,
    "customer_create_error_duplicate_id": _customer_dup,
    "customer_pt_protect_create": _protect_customer,
    "level_three_visa": _level3,
    "level_three_error_invalid_transaction_id": _level3_blank,
    "check_sale_by_account_approved": _check_sale,
    "check_not_processed": _check_declined,
    "check_manage_fund_or_void": _check_fund,
    "check_refund_by_transaction": _check_refund,
    "check_error_not_found": _check_missing,
    "check_error_validation": _check_invalid,
    "transactions_export_by_date_range": _export,
}
# Texts that carry an id or a name the capture's account chose.
VARIABLE_TEXTS = {"customer_pt_protect_create", "level_three_visa"}


def normalise(text: str) -> str:
    text = re.sub(r"\d+", "N", text)
    return re.sub(r"profile for .+? was", "profile for X was", text)


def test_every_capture_has_a_scenario() -> None:
    captured = {
        p.name.removesuffix(".response.json")
        for p in conformance_dir("paytrace").glob("*.response.json")
    }
    assert captured == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_sandbox_matches_the_capture(name: str) -> None:
    folder = conformance_dir("paytrace")
    captured = json.loads((folder / f"{name}.response.json").read_text())
    response = await SCENARIOS[name](Harness(), folder)
    mine = json.loads(response.text)
    assert shape(mine) == shape(captured)
    for key in ("status_message", "error", "error_description"):
        if key in captured:
            if name in VARIABLE_TEXTS:
                assert normalise(mine[key]) == normalise(captured[key])
            else:
                assert mine[key] == captured[key]
    assert mine.get("errors") == captured.get("errors")
    refused = "error" in captured or (
        captured.get("response_code") == 1 and not captured["success"]
    )
    assert (response.status_code != 200) == refused  # declines (102/125) are 200 by default
