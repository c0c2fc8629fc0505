"""The emulator's check export (its v1 path is a setting: spec §13) and its emulator-only ACH
settle and return calls."""

from __future__ import annotations

from typing import Any

import pytest

from paybridge_sandbox.paytrace import PayTraceSandboxSettings
from tests.sandbox.paytrace.conftest import Harness, parse

pytestmark = pytest.mark.anyio
ACCOUNT = {"account_number": "000123456789", "routing_number": "325070760"}


async def export(pt: Harness, path: str = "/v1/checks/export/by_date_range", **f: Any) -> Any:
    body = {"start_date": "01/15/2026", "end_date": "01/16/2026", **f}
    return (await pt.ok(path, body))["checks"]


async def admin(pt: Harness, event: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    reply = await pt.client.post(f"/_sandbox/checks/{event}", json=body)
    return reply.status_code, parse(reply)


async def test_a_check_shows_its_states_and_its_return_code_in_words(pt: Harness) -> None:
    made = await pt.ok(
        "/v1/checks/sale/by_account",
        {"amount": "10.00", "check": ACCOUNT, "invoice_id": "INV-9", "description": "ref-1 x"},
    )
    cid = made["check_transaction_id"]
    (record,) = await export(pt)
    assert record["check_transaction_id"] == cid and record["status"] == "PENDING"
    assert record["transaction_type"] == "SALE" and record["invoice_id"] == "INV-9"
    assert record["masked_account_number"] == "xxxxx6789" and "000123456789" not in str(record)
    assert record["created"] == "1/15/2026 10:00:00 AM" and record["returned"] == ""

    assert (await admin(pt, "return", {"check_transaction_id": cid, "code": "R99"}))[0] == 409
    assert (await admin(pt, "settle", {"check_transaction_id": cid}))[0] == 200
    assert (await admin(pt, "settle", {"check_transaction_id": cid}))[0] == 409  # settled once
    pt.clock.advance(86_400)
    code, said = await admin(pt, "return", {"check_transaction_id": cid, "code": "r01"})
    assert code == 200 and said["status"] == "returned"
    (record,) = await export(pt, including_text="ref-1")
    assert record["status"] == "RETURNED" and record["ach_code"] == "R01"
    assert record["ach_message"] == "Insufficient Funds" and record["returned"].startswith(
        "1/16/2026"
    )
    assert await export(pt, start_date="01/17/2026", end_date="01/17/2026") == []
    refund = parse(await pt.post("/v1/checks/refund/by_transaction", {"check_transaction_id": cid}))
    assert list(refund["errors"]) == ["80"]  # a returned check cannot be refunded
    assert (await admin(pt, "return", {"check_transaction_id": 1}))[0] == 404


async def test_the_export_path_is_a_setting() -> None:
    pt = Harness(PayTraceSandboxSettings(check_export_path="/v1/checks/export"))
    await pt.ok("/v1/checks/sale/by_account", {"amount": "3.00", "check": ACCOUNT})
    assert len(await export(pt, "/v1/checks/export")) == 1
    assert (await pt.post("/v1/checks/export/by_date_range", {})).status_code == 404
