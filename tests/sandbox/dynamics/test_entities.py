"""Entity CRUD over HTTP: generated numbers, keyed reads, encodings, company scope, refusals."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.sandbox.dynamics.support import BASE, authorised, inner_message, make_app

HEADERS = "/data/CustomerPaymentJournalHeaders"
LINES = "/data/CustomerPaymentJournalLines"


async def new_journal(client: httpx.AsyncClient, **extra: Any) -> str:
    response = await client.post(
        HEADERS, json={"dataAreaId": "usmf", "JournalName": "CustPay", **extra}
    )
    assert response.status_code == 201, response.text
    batch: str = response.json()["JournalBatchNumber"]
    return batch


def payment_line(batch: str, **extra: Any) -> dict[str, Any]:
    return {
        "dataAreaId": "usmf",
        "JournalBatchNumber": batch,
        "LineNumber": 1,
        "AccountType": "Cust",
        "AccountDisplayValue": "US\\-001",
        "CurrencyCode": "USD",
        "CreditAmount": 80.00,
        "IsPrepayment": "No",
        "PaymentReference": "PT-000887",
        "PaymentId": "10050",
        "OffsetAccountType": "Bank",
        "OffsetAccountDisplayValue": "USMF OPER",
        **extra,
    }


@pytest.mark.anyio
async def test_header_post_generates_batch_number_and_returns_full_entity() -> None:
    async with await authorised(make_app()) as client:
        response = await client.post(HEADERS, json={"JournalName": "CustPay"})
        second = await client.post(HEADERS, json={"JournalName": "CustPay"})
    body = response.json()
    assert response.status_code == 201
    assert body["@odata.context"] == f"{BASE}/data/$metadata#CustomerPaymentJournalHeaders/$entity"
    assert body["JournalBatchNumber"] == "USMF-000001"
    assert second.json()["JournalBatchNumber"] == "USMF-000002"
    assert body["Description"] == "Customer payment"  # defaulted from the journal name
    assert body["IsPosted"] == "No" and body["OverrideSalesTax"] == "No"
    assert list(body)[2:] == [
        "dataAreaId",
        "JournalBatchNumber",
        "JournalName",
        "OverrideSalesTax",
        "Description",
        "IsPosted",
    ]
    assert response.headers["Location"].endswith(
        "CustomerPaymentJournalHeaders(dataAreaId='usmf',JournalBatchNumber='USMF-000001')"
    )
    assert response.headers["ms-dyn-aid"]


@pytest.mark.anyio
async def test_line_post_keyed_get_and_encodings() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        created = await client.post(LINES, json=payment_line(batch))
        got = await client.get(
            f"{LINES}(dataAreaId='usmf',JournalBatchNumber='{batch}',LineNumber=1)"
        )
    assert created.status_code == 201, created.text
    line = got.json()
    assert got.status_code == 200
    assert line["@odata.context"].endswith("#CustomerPaymentJournalLines/$entity")
    assert line["Voucher"] == "ARP-000001"
    assert line["CustomerName"] == "Contoso Retail San Diego"
    assert line["AccountDisplayValue"] == "US\\-001"
    assert line["CreditAmount"] == 80 and line["ExchangeRate"] == 100
    assert line["TransactionDate"] == "2026-07-15T12:00:00Z"
    assert line["PostdatedCheckMaturityDate"] == "1900-01-01T12:00:00Z"
    assert line["SettleVoucher"] == "None" and line["MarkedInvoice"] == ""
    assert line["Company"] == "USMF"
    assert len([k for k in line if not k.startswith("@")]) == 69
    assert b'"CreditAmount":80,' in got.content  # a JSON number, not a string


@pytest.mark.anyio
async def test_etag_is_weak_base64_of_recversion_recid() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        header = await client.get(f"{HEADERS}(dataAreaId='usmf',JournalBatchNumber='{batch}')")
    tag = header.json()["@odata.etag"]
    assert tag.startswith('W/"') and tag.endswith('"')
    decoded = base64.b64decode(tag[3:-1]).decode()
    version, rec_id = decoded.strip("'").split(",")
    assert version == "1" and int(rec_id) > 5637144576


@pytest.mark.anyio
async def test_key_literals_quotes_and_positional() -> None:
    async with await authorised(make_app()) as client:
        created = await client.post(
            "/data/CustomerGroups", json={"CustomerGroupId": "O'Neil", "Description": "quoted"}
        )
        got = await client.get("/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='O''Neil')")
        currency = await client.get("/data/Currencies('USD')")
        case = await client.get("/data/CustomersV3(dataAreaId='USMF',CustomerAccount='us-001')")
    assert created.status_code == 201
    assert got.json()["Description"] == "quoted"
    assert currency.json()["Name"] == "US Dollar"
    assert case.json()["CustomerAccount"] == "US-001"


@pytest.mark.anyio
async def test_filter_eq_and_collection_shape() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        await client.post(LINES, json=payment_line(batch))
        await client.post(LINES, json=payment_line(batch, LineNumber=2, PaymentReference="OTHER"))
        response = await client.get(
            LINES,
            params={
                "$filter": f"dataAreaId eq 'usmf' and JournalBatchNumber eq '{batch}' and "
                "PaymentReference eq 'pt-000887'"
            },
        )
    body = response.json()
    assert body["@odata.context"] == f"{BASE}/data/$metadata#CustomerPaymentJournalLines"
    assert [row["LineNumber"] for row in body["value"]] == [1]
    assert body["value"][0]["@odata.etag"].startswith('W/"')


@pytest.mark.anyio
async def test_default_company_and_cross_company() -> None:
    async with await authorised(make_app()) as client:
        usrt = await client.post(HEADERS, json={"dataAreaId": "usrt", "JournalName": "CustPay"})
        default = await client.get(HEADERS)
        cross = await client.get(HEADERS, params={"cross-company": "true"})
        keyed = f"{HEADERS}(dataAreaId='usrt',JournalBatchNumber='USRT-000001')"
        hidden = await client.get(keyed)
        shown = await client.get(keyed, params={"cross-company": "true"})
        customers = await client.get("/data/CustomersV3", params={"$select": "CustomerAccount"})
    assert usrt.json()["JournalBatchNumber"] == "USRT-000001"
    assert default.json()["value"] == []
    assert [r["dataAreaId"] for r in cross.json()["value"]] == ["usrt"]
    assert hidden.status_code == 404 and shown.status_code == 200
    assert len(customers.json()["value"]) == 10  # only usmf's ten


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        (LINES, {"AccountDisplayValue": "US\\-099"}, "Account US\\-099 does not exist"),
        (LINES, {"AccountDisplayValue": "US-001"}, "Account US-001 does not exist"),
        (
            LINES,
            {"JournalBatchNumber": "USMF-999999"},
            "The value 'USMF-999999' in field 'Journal batch number' is not found",
        ),
        (HEADERS, {"JournalName": "Nope"}, "The value 'Nope' in field 'Name' is not found"),
        (HEADERS, {"JournalName": "GenJrn"}, "is not of the journal type Customer payment"),
        (HEADERS, {"Description": "no name"}, "Field 'Name' must be filled in."),
        (
            "/data/CustomersV3",
            {"OrganizationName": "X", "CustomerGroupId": "Local", "SalesCurrencyCode": "USD"},
            "The value 'Local' in field 'Customer group' is not found in the related table "
            "'Customer groups'.; Warning: validateField failed on field "
            "'CustCustomerV3Entity.CustomerGroupId'.",
        ),
    ],
)
async def test_business_refusals_are_write_failed_400(
    path: str, body: dict[str, Any], fragment: str
) -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        payload = payment_line(batch) | body if path == LINES else body
        response = await client.post(path, json=payload)
    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "" and error["message"] == "An error has occurred."
    assert error["innererror"]["type"].endswith("AxODataWriteException")
    assert error["innererror"]["message"].startswith("Write failed for table row of type '")
    assert fragment in error["innererror"]["message"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("AccountType", "Customer", "is not a valid enumeration type constant"),
        (
            "CreditAmount",
            "eighty",
            "Cannot convert a primitive value to the expected type 'Edm.Decimal'",
        ),
        ("TransactionDate", "15/07/2026", "Cannot convert the literal"),
        ("NoSuchField", "x", "The property 'NoSuchField' does not exist on type"),
    ],
)
async def test_type_errors_are_400(field: str, value: Any, fragment: str) -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        response = await client.post(LINES, json=payment_line(batch, **{field: value}))
    assert response.status_code == 400
    assert fragment in inner_message(response)


@pytest.mark.anyio
async def test_customer_create_generates_account_and_party() -> None:
    async with await authorised(make_app()) as client:
        response = await client.post(
            "/data/CustomersV3",
            json={
                "OrganizationName": "PayBridge Test Customer Incorporated",
                "CustomerGroupId": "10",
                "SalesCurrencyCode": "USD",
            },
        )
        missing = await client.post("/data/CustomersV3", json={"OrganizationName": "X"})
    body = response.json()
    assert response.status_code == 201
    assert body["CustomerAccount"] == "US-011"
    assert body["PartyNumber"] == "000002401" and body["PartyType"] == "Organization"
    assert body["NameAlias"] == "PayBridge Test Custo"
    assert body["PaymentTerms"] == "Net30"
    assert "Field 'Customer group' must be filled in." in inner_message(missing)
    assert "Field 'Currency' must be filled in." in inner_message(missing)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-404')", 404),
        ("GET", "/data/NoSuchEntities", 404),
        ("GET", "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-001'", 404),
        ("GET", "/data/CustomersV3(dataAreaId='usmf')", 400),
        ("GET", "/data/CustomersV3(dataAreaId='usmf',CustomerAccount=1)", 400),
        ("GET", "/data/CustomersV3?$filter=CustomerAccount eq", 400),
        ("GET", "/data/CustomersV3?$top=-1", 400),
        ("PATCH", "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-404')", 404),
    ],
)
async def test_bad_urls_and_unknown_keys_get_odata_errors(
    method: str, path: str, status: int
) -> None:
    async with await authorised(make_app()) as client:
        response = await client.request(method, path, json={})
    assert response.status_code == status
    assert response.json()["error"]["innererror"]["message"]


@pytest.mark.anyio
async def test_malformed_json_is_400_not_a_traceback() -> None:
    async with await authorised(make_app()) as client:
        response = await client.post(
            HEADERS, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        array = await client.post(HEADERS, json=[1, 2])
    assert response.status_code == 400
    assert "not valid JSON" in inner_message(response)
    assert array.status_code == 400
