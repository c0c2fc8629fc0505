"""PayTrace Protect (client key, hpf_token/enc_key calls) and ACH checks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.paytrace.conftest import BILLING, VISA, Harness, parse

pytestmark = pytest.mark.anyio
ACCOUNT = {"account_number": "123456", "routing_number": "325070760"}


async def tokens(pt: Harness, csc: str | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"credit_card": VISA}
    if csc:
        body["csc"] = csc
    response = await pt.client.post("/_sandbox/protect/tokenize", json=body)
    assert response.status_code == 200
    data: dict[str, str] = response.json()
    return data


async def test_client_key_needs_only_the_bearer_token(pt: Harness) -> None:
    headers = {"Authorization": f"Bearer {await pt.token()}"}
    response = await pt.client.post("/v1/payment_fields/token/create", headers=headers)
    assert response.status_code == 200
    assert len(response.json()["clientKey"]) > 40
    anonymous = await pt.client.post("/v1/payment_fields/token/create")
    assert anonymous.status_code == 401


async def test_protect_sale_uses_the_tokenized_card_once(pt: Harness) -> None:
    pair = await tokens(pt, csc="999")
    sale = await pt.ok("/v1/transactions/sale/pt_protect", {"amount": "5.00", **pair})
    assert sale["masked_card_number"] == "xxxxxxxxxxxx5439"
    assert sale["csc_response"] == "Match"
    again = parse(await pt.post("/v1/transactions/sale/pt_protect", {"amount": "5.00", **pair}))
    assert list(again["errors"]) == ["54"]


async def test_protect_needs_the_matching_enc_key(pt: Harness) -> None:
    pair = await tokens(pt)
    body = {"amount": 1, "hpf_token": pair["hpf_token"], "enc_key": "AAAA"}
    assert list(parse(await pt.post("/v1/transactions/sale/pt_protect", body))["errors"]) == ["54"]


async def test_protect_authorization_then_capture(pt: Harness) -> None:
    auth = await pt.ok(
        "/v1/transactions/authorization/pt_protect", {"amount": 8, **await tokens(pt)}
    )
    captured = await pt.ok(
        "/v1/transactions/authorization/capture", {"transaction_id": auth["transaction_id"]}
    )
    assert captured["transaction_id"] == auth["transaction_id"]


async def test_protect_customer_create_update_and_sale_with_customer(pt: Harness) -> None:
    body = {"customer_id": "P1", "billing_address": BILLING, **await tokens(pt)}
    created = await pt.ok("/v1/customer/pt_protect_create", body)
    assert set(created) == {"success", "response_code", "status_message", "customer_id"}
    assert created["response_code"] == 160
    updated = await pt.ok(
        "/v1/customer/pt_protect_update", {"customer_id": "P1", **await tokens(pt)}
    )
    assert updated["response_code"] == 161
    sale_body = {"customer_id": "P2", "amount": "3.00", **await tokens(pt)}
    sale = await pt.ok("/v1/transactions/sale/pt_protect_customer", sale_body)
    assert sale["customer_id"] == "P2"
    vault = await pt.ok("/v1/transactions/sale/by_customer", {"customer_id": "P2", "amount": 1})
    assert vault["response_code"] == 101
    dup = parse(await pt.post("/v1/transactions/sale/pt_protect_customer", sale_body))
    assert list(dup["errors"]) == ["171"]


async def test_tokenize_validates_the_card(pt: Harness) -> None:
    response = await pt.client.post(
        "/_sandbox/protect/tokenize", json={"credit_card": {"number": "1"}}
    )
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["35", "43", "44"]


async def test_check_sale_refund_and_settlement(pt: Harness) -> None:
    sale = await pt.ok("/v1/checks/sale/by_account", {"amount": "10.00", "check": ACCOUNT})
    assert sale["response_code"] == 120
    cid = sale["check_transaction_id"]
    refund = await pt.ok(
        "/v1/checks/refund/by_transaction", {"check_transaction_id": cid, "amount": 4}
    )
    assert refund["response_code"] == 122
    over = parse(
        await pt.post(
            "/v1/checks/refund/by_transaction", {"check_transaction_id": cid, "amount": 7}
        )
    )
    assert list(over["errors"]) == ["56"]
    await pt.ok("/v1/transactions/settle")
    assert pt.sandbox.state.checks[cid].status == "settled"
    late_void = parse(await pt.post("/v1/checks/manage/void", {"check_transaction_id": cid}))
    assert late_void["errors"] == {
        "80": [
            "The Check ID that you have provided was not found in the PayTrace records. "
            "It may already be voided or settled."
        ]
    }


async def test_check_hold_fund_and_void(pt: Harness) -> None:
    await pt.ok("/v1/customer/create", {"customer_id": "ACH", "check": ACCOUNT})
    hold = await pt.ok("/v1/checks/hold/by_customer", {"customer_id": "ACH", "amount": 9})
    cid = hold["check_transaction_id"]
    funded = await pt.ok("/v1/checks/manage/fund", {"check_transaction_id": cid, "amount": 6})
    assert funded["response_code"] == 124
    assert str(pt.sandbox.state.checks[cid].amount) == "6.00"
    assert (await pt.ok("/v1/checks/manage/void", {"check_transaction_id": cid}))[
        "response_code"
    ] == 124
    again = parse(await pt.post("/v1/checks/manage/fund", {"check_transaction_id": cid}))
    assert list(again["errors"]) == ["80"]
    by_customer = await pt.ok("/v1/checks/sale/by_customer", {"customer_id": "ACH", "amount": 2})
    assert by_customer["response_code"] == 120


async def test_check_decline_and_validation(pt: Harness) -> None:
    declined = parse(
        await pt.post("/v1/checks/sale/by_account", {"amount": "1.12", "check": ACCOUNT})
    )
    assert declined["response_code"] == 125
    assert declined["success"] is False
    bad = {"account_number": "12", "routing_number": "325070761"}
    errors = parse(await pt.post("/v1/checks/sale/by_account", {"amount": 1, "check": bad}))[
        "errors"
    ]
    assert sorted(errors) == ["45", "46"]
    unknown = parse(
        await pt.post("/v1/checks/sale/by_customer", {"customer_id": "zz", "amount": 1})
    )
    assert unknown["errors"] == {"30": ["Customer ID, zz, was not found or is incomplete."]}
    blank = parse(await pt.post("/v1/checks/manage/void", {"check_transaction_id": ""}))
    assert list(blank["errors"]) == ["60"]


async def test_protect_script_and_hosted_fields_are_served_for_the_browser(pt: Harness) -> None:
    """What a page loads: protect.min.js (PTPayment) and the fields it frames; the fields know
    whether their client key is one the sandbox issued."""
    script = await pt.client.get("/js/protect.min.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "window.PTPayment" in script.text and "/_sandbox/protect/fields" in script.text
    headers = {"Authorization": f"Bearer {await pt.token()}"}
    issued = (await pt.client.post("/v1/payment_fields/token/create", headers=headers)).json()
    known = await pt.client.get(
        "/_sandbox/protect/fields", params={"clientKey": issued["clientKey"]}
    )
    unknown = await pt.client.get("/_sandbox/protect/fields", params={"clientKey": "made-up"})
    assert known.status_code == 200 and "const CLIENT_KEY_OK = true;" in known.text
    assert 'id="CC"' in known.text and "/_sandbox/protect/tokenize" in known.text
    assert "const CLIENT_KEY_OK = false;" in unknown.text
