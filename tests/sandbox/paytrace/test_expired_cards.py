"""Expired cards: declined by the issuer (102, EXPIRED CARD) through the card's last month, not before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paybridge_sandbox.paytrace import PayTraceSandboxSettings
from tests.sandbox.paytrace.conftest import BILLING, Harness, parse

pytestmark = pytest.mark.anyio

# Expires at the end of January 2026 (the harness starts 15 January 2026, Los Angeles time).
JANUARY = {"number": "4012000098765439", "expiration_month": "01", "expiration_year": "2026"}
LAST_YEAR = {"number": "5499740000000057", "expiration_month": 12, "expiration_year": 2025}


async def test_a_keyed_sale_of_an_expired_card_is_declined_with_a_transaction_id(
    pt: Harness,
) -> None:
    body = {"amount": "10.00", "credit_card": LAST_YEAR, "billing_address": BILLING}
    data = parse(await pt.post("/v1/transactions/sale/keyed", body))
    assert data["success"] is False and data["response_code"] == 102
    assert data["approval_message"] == "  EXPIRED CARD - Expired card"
    assert data["approval_code"] == "" and isinstance(data["transaction_id"], int)
    assert pt.sandbox.state.transactions[data["transaction_id"]].status == "declined"


async def test_a_vaulted_card_declines_once_its_month_is_over_in_merchant_time(pt: Harness) -> None:
    await pt.customer("C9", JANUARY)
    request = {"customer_id": "C9", "amount": "5.00"}
    in_month = parse(await pt.post("/v1/transactions/authorization/by_customer", request))
    # 31 January 23:30 in Los Angeles is already 1 February in UTC: still good.
    pt.clock.set(datetime(2026, 2, 1, 7, 30, tzinfo=UTC))
    last_evening = parse(await pt.post("/v1/transactions/authorization/by_customer", request))
    pt.clock.set(datetime(2026, 2, 1, 8, 30, tzinfo=UTC))  # 1 February 00:30 in Los Angeles
    after = parse(await pt.post("/v1/transactions/authorization/by_customer", request))
    assert in_month["response_code"] == 101 and last_evening["response_code"] == 101
    assert after["response_code"] == 102
    assert after["approval_message"] == "  EXPIRED CARD - Expired card"


async def test_the_expiry_decline_is_a_setting() -> None:
    pt = Harness(PayTraceSandboxSettings(decline_expired_cards=False))
    body = {"amount": "10.00", "credit_card": LAST_YEAR, "billing_address": BILLING}
    data = parse(await pt.post("/v1/transactions/sale/keyed", body))
    assert data["response_code"] == 101
