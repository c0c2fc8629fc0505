"""DynamicsClient reads and writes against a scripted F&O: URLs, headers, paging, bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from urllib.parse import unquote

import pytest

from paybridge.connectors.dynamics import F, Query
from paybridge.errors import FatalError
from tests.unit.connectors.dynamics.fake_fo import BASE, FakeFO, respond

pytestmark = pytest.mark.anyio

JOURNAL = {
    "@odata.context": f"{BASE}/data/$metadata#CustomerPaymentJournalHeaders/$entity",
    "@odata.etag": 'W/"JzY3NzA3NDYyNSw1NjM3MTQ1MzI2Jw=="',
    "dataAreaId": "dat",
    "JournalBatchNumber": "DAT-000007",
    "JournalName": "ARPay",
}


def _page(rows: Sequence[Mapping[str, object]], next_link: str | None = None) -> dict[str, object]:
    doc: dict[str, object] = {"@odata.context": f"{BASE}/data/$metadata#X", "value": rows}
    if next_link:
        doc["@odata.nextLink"] = next_link
    return doc


async def test_get_sends_auth_tracing_and_the_key() -> None:
    fo = FakeFO(respond(200, JOURNAL))
    entity = await fo.client().get(
        "CustomerPaymentJournalHeaders",
        {"dataAreaId": "dat", "JournalBatchNumber": "DAT-000007"},
        select=["JournalName"],
        cross_company=True,
    )
    assert entity is not None
    assert entity["JournalName"] == "ARPay"
    request = fo.requests[0]
    assert request.headers["authorization"] == "Bearer tok-1"
    assert request.headers["accept"] == "application/json"
    assert request.headers["x-ms-client-request-id"] == "req-1"
    assert unquote(str(request.url)) == (
        f"{BASE}/data/CustomerPaymentJournalHeaders(dataAreaId='dat',"
        "JournalBatchNumber='DAT-000007')?$select=JournalName&cross-company=true"
    )


async def test_get_missing_is_none() -> None:
    fo = FakeFO(respond(404, {"error": {"code": "", "message": "No resources were found"}}))
    assert (
        await fo.client().get("CustomersV3", {"dataAreaId": "dat", "CustomerAccount": "X"}) is None
    )


async def test_numbers_come_back_as_decimal() -> None:
    fo = FakeFO(respond(200, '{"value":[{"CreditAmount":80.10,"LineNumber":1}]}'))
    rows = await fo.client().query("CustomerPaymentJournalLines")
    assert rows == [{"CreditAmount": Decimal("80.10"), "LineNumber": Decimal(1)}]
    assert isinstance(rows[0]["CreditAmount"], Decimal)


async def test_query_follows_next_link_page_by_page() -> None:
    next_link = f"{BASE}/data/SalesOrderHeadersV2?cross-company=true&$skip=2&$top=2"
    fo = FakeFO(
        respond(200, _page([{"n": 1}, {"n": 2}], next_link)),
        respond(200, _page([{"n": 3}])),
    )
    rows = await fo.client().query("SalesOrderHeadersV2", Query(top=2, cross_company=True))
    assert [r["n"] for r in rows] == [1, 2, 3]
    assert str(fo.requests[1].url) == next_link
    assert [r.headers["x-ms-client-request-id"] for r in fo.requests] == ["req-1", "req-2"]


async def test_stream_yields_before_the_next_page_is_fetched() -> None:
    fo = FakeFO(respond(200, _page([{"n": 1}], f"{BASE}/data/X?$skip=1")), respond(200, _page([])))
    stream = fo.client().stream("X")
    first = await stream.__anext__()
    assert first == {"n": 1}
    assert len(fo.requests) == 1
    assert [row async for row in stream] == []
    assert len(fo.requests) == 2


async def test_next_link_to_another_host_is_refused() -> None:
    fo = FakeFO(respond(200, _page([{"n": 1}], "https://evil.example/data/X?$skip=1")))
    with pytest.raises(FatalError, match="another host"):
        await fo.client().query("X")
    assert len(fo.requests) == 1


async def test_page_reports_count() -> None:
    fo = FakeFO(respond(200, {"@odata.count": 9, "value": [{"a": 1}]}))
    page = await fo.client().page("CustomerGroups", Query(top=1, count=True))
    assert page.count == 9
    assert len(page.value) == 1
    assert page.next_link is None


async def test_count_reads_the_bare_number() -> None:
    fo = FakeFO(respond(200, "\ufeff9"))
    total = await fo.client().count("CustomerGroups", Query(filter=F("A") == 1, top=3))
    assert total == 9
    assert unquote(str(fo.requests[0].url)) == f"{BASE}/data/CustomerGroups/$count?$filter=A eq 1"


async def test_create_sends_exact_decimals_and_returns_the_entity() -> None:
    created = {"dataAreaId": "dat", "JournalBatchNumber": "DAT-000030", "LineNumber": 1}
    fo = FakeFO(respond(201, created))
    body = {"dataAreaId": "dat", "CreditAmount": Decimal("80.00"), "AccountDisplayValue": "HW\\-02"}
    result = await fo.client().create("CustomerPaymentJournalLines", body)
    assert result["JournalBatchNumber"] == "DAT-000030"
    sent = fo.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == f"{BASE}/data/CustomerPaymentJournalLines"
    assert b'"CreditAmount":80.00' in sent.content
    assert json.loads(sent.content)["AccountDisplayValue"] == "HW\\-02"
    assert sent.headers["content-type"].startswith("application/json")


async def test_create_refuses_floats() -> None:
    fo = FakeFO()
    with pytest.raises(TypeError, match="Decimal"):
        await fo.client().create("X", {"CreditAmount": 80.0})
    assert fo.requests == []


async def test_update_and_delete() -> None:
    fo = FakeFO(respond(204), respond(204))
    client = fo.client()
    key = {"dataAreaId": "dat", "CustomerAccount": "DAT-000004"}
    await client.update("CustomersV3", key, {"CreditLimit": Decimal(500)}, if_match='W/"x"')
    await client.delete("CustomersV3", key, cross_company=True)
    patch, delete = fo.requests
    assert patch.method == "PATCH"
    assert patch.headers["if-match"] == 'W/"x"'
    assert json.loads(patch.content) == {"CreditLimit": 500}
    assert delete.method == "DELETE"
    assert unquote(str(delete.url)).endswith("CustomerAccount='DAT-000004')?cross-company=true")


async def test_find_by_reference_filters_by_company_and_keeps_exact_matches() -> None:
    rows = [{"PaymentReference": "pt:1*"}, {"PaymentReference": "pt:1x"}]
    fo = FakeFO(respond(200, _page(rows)))
    found = await fo.client().find_by_reference(
        "CustomerPaymentJournalLines", "PaymentReference", "pt:1*", company="dat"
    )
    assert found == [{"PaymentReference": "pt:1*"}]
    assert unquote(str(fo.requests[0].url)) == (
        f"{BASE}/data/CustomerPaymentJournalLines?$filter=PaymentReference eq 'pt:1*' and "
        "dataAreaId eq 'dat'&cross-company=true"
    )


async def test_find_by_reference_without_company_stays_in_the_default_company() -> None:
    fo = FakeFO(respond(200, _page([])))
    assert await fo.client().find_by_reference("X", "PaymentId", "O'Neil") == []
    assert unquote(str(fo.requests[0].url)) == f"{BASE}/data/X?$filter=PaymentId eq 'O''Neil'"


async def test_call_service_posts_json_and_reads_the_answer() -> None:
    fo = FakeFO(respond(200, {"posted": True, "Amount": 1.5}))
    answer = await fo.client().call_service("Grp", "Svc", "post", {"journal": "DAT-1"})
    assert answer == {"posted": True, "Amount": Decimal("1.5")}
    assert str(fo.requests[0].url) == f"{BASE}/api/services/Grp/Svc/post"
