"""DynamicsClient against the in-process D365 sandbox: MSAL token, reads, writes, $batch."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from paybridge.clock import sequential_ids
from paybridge.connectors.dynamics import (
    BatchOperation,
    DynamicsClient,
    F,
    MsalTokenProvider,
    Query,
)
from paybridge.errors import DataError
from tests.conftest import asgi_client

BASE = "https://usmf.sandbox.operations.dynamics.com"
LOGIN = "https://login.microsoftonline.com"


def _find_create_app() -> Callable[[], Any] | None:
    for name in ("paybridge_sandbox.dynamics", "paybridge_sandbox.dynamics.app"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        factory = getattr(module, "create_app", None)
        if factory is not None:
            return factory  # type: ignore[no-any-return]
    return None


create_app = _find_create_app()
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(create_app is None, reason="the D365 sandbox has no create_app yet"),
]


@pytest.fixture
async def client() -> AsyncIterator[DynamicsClient]:
    assert create_app is not None
    with warnings.catch_warnings():
        # Starlette deprecates httpx under TestClient; it is still an httpx.Client, which MSAL needs.
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient
    app = create_app()
    with TestClient(app, base_url=LOGIN) as login:
        tokens = MsalTokenProvider.for_environment(
            "sandbox-tenant", "sandbox-client", "sandbox-secret", BASE, http_client=login
        )
        async with asgi_client(app, BASE) as http:
            yield DynamicsClient(
                http, base_url=BASE, token_provider=tokens, id_factory=sequential_ids("it-")
            )


async def test_reads(client: DynamicsClient) -> None:
    customer = await client.get("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-001"})
    assert customer is not None
    assert customer["CustomerGroupId"] == "10"
    missing = await client.get("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "NOPE"})
    assert missing is None
    rows = await client.query(
        "CustomersV3", Query(filter=F("CustomerGroupId") == "20", select=["CustomerAccount"])
    )
    assert {r["CustomerAccount"] for r in rows} == {"US-004", "US-007"}
    assert await client.count("CustomersV3", Query(filter=F("dataAreaId") == "usmf")) == 10
    model = await client.metadata()
    assert model.entity_type_of("CustomerPaymentJournalLines").keys == (
        "dataAreaId",
        "JournalBatchNumber",
        "LineNumber",
    )


async def test_payment_journal_through_batch_and_lookup(client: DynamicsClient) -> None:
    header = await client.create(
        "CustomerPaymentJournalHeaders", {"dataAreaId": "usmf", "JournalName": "CustPay"}
    )
    batch_number = header["JournalBatchNumber"]

    def line(n: int, account: str, ref: str) -> BatchOperation:
        body = {
            "dataAreaId": "usmf",
            "JournalBatchNumber": batch_number,
            "LineNumber": Decimal(n),
            "AccountType": "Cust",
            "AccountDisplayValue": account,
            "CurrencyCode": "USD",
            "CreditAmount": Decimal("80.00"),
            "PaymentReference": ref,
            "OffsetAccountType": "Bank",
            "OffsetAccountDisplayValue": "USMF OPER",
        }
        return BatchOperation("POST", "CustomerPaymentJournalLines", body=body, reference=ref)

    good, bad = await client.batch(
        [[line(1, "US\\-001", "pt:1:sale")], [line(2, "US\\-999", "pt:2:sale")]]
    )
    assert good.ok
    assert good.results[0].status == 201
    assert not bad.ok
    assert isinstance(bad.error, DataError)
    found = await client.find_by_reference(
        "CustomerPaymentJournalLines", "PaymentReference", "pt:1:sale", company="usmf"
    )
    assert len(found) == 1
    assert found[0]["CreditAmount"] == Decimal("80")
    assert (
        await client.find_by_reference(
            "CustomerPaymentJournalLines", "PaymentReference", "pt:2:sale", company="usmf"
        )
        == []
    )
