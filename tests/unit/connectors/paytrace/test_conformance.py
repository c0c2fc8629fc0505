"""Every captured PayTrace body parses into the right result or error; requests match captures."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
    KeyedSaleRequest,
    TransactionSaleRequest,
    map_outcome,
)
from paybridge.connectors.paytrace.models import PayTraceResponse
from paybridge.connectors.paytrace.outcome import Endpoint
from paybridge.connectors.paytrace.responses import (
    CheckResponse,
    CustomerResponse,
    ExportResponse,
    TokenResponse,
    TransactionResponse,
)
from paybridge.connectors.paytrace.session import PayTraceSession
from paybridge.errors import ConfigError, DataError, DeclinedError, PayBridgeError
from tests.conftest import conformance_dir

MONEY = Endpoint("sale_keyed", "/v1/transactions/sale/keyed", "money")
READ = Endpoint("export_by_date_range", "/v1/transactions/export/by_date_range", "read")
TOKEN = Endpoint("login", "/oauth/token", "token")

# capture -> (endpoint, model, expected result type or error, expected detail)
EXPECTED: dict[str, tuple[Endpoint, type[BaseModel], type[Any], object]] = {
    "authorization_keyed_declined_expired_card": (MONEY, TransactionResponse, DeclinedError, 102),
    "capture_approved": (MONEY, TransactionResponse, TransactionResponse, 392442990),
    "capture_error_invalid_transaction_id": (MONEY, TransactionResponse, DataError, {"58"}),
    "capture_error_not_capturable": (MONEY, TransactionResponse, DataError, {"816"}),
    "check_error_not_found": (MONEY, CheckResponse, DataError, {"80"}),
    "check_error_validation": (MONEY, CheckResponse, DataError, {"30", "45", "46"}),
    "check_manage_fund_or_void": (MONEY, CheckResponse, CheckResponse, 9981614),
    "check_not_processed": (MONEY, CheckResponse, DeclinedError, 125),
    "check_refund_by_transaction": (MONEY, CheckResponse, CheckResponse, 9981632),
    "check_sale_by_account_approved": (MONEY, CheckResponse, CheckResponse, 981619),
    "customer_create": (MONEY, CustomerResponse, CustomerResponse, "1733439821"),
    "customer_create_error_duplicate_id": (MONEY, CustomerResponse, DataError, {"171"}),
    "customer_pt_protect_create": (
        MONEY, CustomerResponse, CustomerResponse, "PLS5U60OoLUfQXzcmtJYNefPA0gTthzT"
    ),
    "level_three_error_invalid_transaction_id": (MONEY, PayTraceResponse, DataError, {"58"}),
    "level_three_visa": (MONEY, PayTraceResponse, PayTraceResponse, 170),
    "oauth_token": (TOKEN, TokenResponse, TokenResponse, 7200),
    "oauth_token_2017": (TOKEN, TokenResponse, TokenResponse, 7200),
    "oauth_token_invalid_grant": (TOKEN, TokenResponse, ConfigError, "invalid_grant"),
    "refund_error_insufficient_permissions": (MONEY, TransactionResponse, ConfigError, "981"),
    "refund_error_not_settled": (MONEY, TransactionResponse, DataError, {"817"}),
    "refund_error_transaction_not_found": (MONEY, TransactionResponse, DataError, {"811"}),
    "refund_for_transaction_approved": (MONEY, TransactionResponse, TransactionResponse, 179066852),
    "sale_by_customer_approved": (MONEY, TransactionResponse, TransactionResponse, 125391269),
    "sale_by_transaction_approved": (MONEY, TransactionResponse, TransactionResponse, 125391270),
    "sale_keyed_approved": (MONEY, TransactionResponse, TransactionResponse, 125391271),
    "sale_keyed_approved_csc_match": (MONEY, TransactionResponse, TransactionResponse, 178349480),
    "sale_keyed_declined": (MONEY, TransactionResponse, DeclinedError, 102),
    "sale_keyed_declined_with_discretionary_data": (
        MONEY, TransactionResponse, DeclinedError, 102
    ),
    "transactions_export_by_date_range": (READ, ExportResponse, ExportResponse, 79388123),
    "void_approved": (MONEY, TransactionResponse, TransactionResponse, 395971574),
    "void_error_invalid_transaction_id": (MONEY, TransactionResponse, DataError, {"58"}),
    "void_error_not_voidable": (MONEY, TransactionResponse, DataError, {"818"}),
}  # fmt: skip


def _detail(result: object) -> object:
    for name in ("transaction_id", "check_transaction_id", "customer_id", "expires_in"):
        if hasattr(result, name):
            return getattr(result, name)
    if isinstance(result, ExportResponse):
        return result.transactions[0].transaction_id
    assert isinstance(result, PayTraceResponse)
    return result.response_code


def test_every_capture_is_covered() -> None:
    folder = conformance_dir("paytrace")
    names = {p.name.removesuffix(".response.json") for p in folder.glob("*.response.json")}
    assert names == set(EXPECTED)


# Failures are mapped from the body whatever the status (spec §3.5 leaves it open: 200 or 400).
CASES = [
    (name, status)
    for name, (_, _, expected, _) in sorted(EXPECTED.items())
    for status in ((200, 400) if issubclass(expected, Exception) else (200,))
]


@pytest.mark.parametrize(("name", "status"), CASES)
def test_capture_maps_to_expected_outcome(name: str, status: int) -> None:
    endpoint, model, expected, detail = EXPECTED[name]
    content = (conformance_dir("paytrace") / f"{name}.response.json").read_bytes()
    response = httpx.Response(status, content=content, headers={"X-Request-Id": "r-1"})
    if issubclass(expected, Exception):
        with pytest.raises(expected) as caught:
            map_outcome(endpoint, response, model, "INV-1")
        error = caught.value
        assert isinstance(error, PayBridgeError)
        assert error.request_id == "r-1"
        if isinstance(error, DataError):
            assert set(error.fields) == detail
        elif isinstance(error, DeclinedError):
            assert error.response_code == detail
            assert error.reason
        else:
            assert str(detail) in error.message
        return
    result = map_outcome(endpoint, response, model, "INV-1")
    assert isinstance(result, expected)
    assert _detail(result) == detail


def test_export_record_fields_and_local_times() -> None:
    content = conformance_dir("paytrace") / "transactions_export_by_date_range.response.json"
    reply = map_outcome(READ, httpx.Response(200, content=content.read_bytes()), ExportResponse)
    (record,) = reply.transactions
    assert record.amount == Decimal("110")
    assert isinstance(record.amount, Decimal)
    assert record.tax_amount == Decimal("8.10")
    assert record.transaction_type == "SALE"
    assert record.batch_number == 571
    assert record.credit_card is not None
    assert record.credit_card.masked_number.endswith("5454")
    assert record.created.through == "API"
    # 4/10/2015 is daylight time in Los Angeles (UTC-7).
    assert record.created_at_utc().isoformat() == "2015-04-10T23:06:30+00:00"
    settled = record.settled_at_utc()
    assert settled is not None
    assert settled.isoformat() == "2015-04-11T03:13:45+00:00"
    assert record.created_at_utc("America/New_York").isoformat() == "2015-04-10T20:06:30+00:00"


def _normalised(body: dict[str, Any]) -> dict[str, Any]:
    """Amounts as Decimal and ids as strings: both spellings were accepted by the live API."""
    result: dict[str, Any] = {}
    for key, value in body.items():
        if key == "integrator_id":
            continue
        if isinstance(value, dict):
            result[key] = _normalised(value)
        elif key in {"amount", "tax_amount"}:
            result[key] = Decimal(str(value))
        else:
            result[key] = str(value)
    return result


def _encoded(request: Any) -> dict[str, Any]:
    session = PayTraceSession(
        httpx.AsyncClient(),
        username="u",
        password="p",
        integrator_id="<INTEGRATOR_ID>",
        base_url="https://api.paytrace.com",
        clock=None,
        timeout=1.0,
        retries=0,
        sleep=None,
    )
    body: dict[str, Any] = json.loads(session.encode(request))
    assert body["integrator_id"] == "<INTEGRATOR_ID>"
    return body


def _capture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (conformance_dir("paytrace") / f"{name}.request.json").read_text()
    )
    return loaded


def test_requests_match_captured_requests() -> None:
    card = CreditCard(number="4012000098765439", expiration_month="12", expiration_year="2026")
    address = Address(
        name="Nathan Williams",
        street_address="1234 Main St.",
        city="Los Angeles",
        state="CA",
        zip="90210",
    )
    built = {
        "sale_keyed": KeyedSaleRequest(
            amount=Decimal("51.88"), credit_card=card, billing_address=address
        ),
        "customer_create": CustomerCreateRequest(
            customer_id="1733439821", credit_card=card, billing_address=address
        ),
        "sale_by_customer": CustomerSaleRequest(customer_id="99", amount=Decimal("25.0")),
        "sale_by_transaction": TransactionSaleRequest(
            transaction_id=125391265, amount=Decimal("19.95")
        ),
    }
    for name, request in built.items():
        assert _normalised(_encoded(request)) == _normalised(_capture(name)), name
    assert _encoded(built["sale_by_customer"])["amount"] == "25.00"
